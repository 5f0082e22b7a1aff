"""Report models: data only, built by services, rendered by :mod:`kinko.render`.

A :class:`CustodyReport` answers the FSA's first questions per asset: how much customer
crypto is held online and in what share, how much is cold, whether the exchange's own
performance-guarantee crypto covers the online part, what breaches and pending moves
exist, and how each wallet is signed (one key, a Safe m-of-n, co-signed), where its keys
live and how often the policy co-signer refused to sign for it. Amounts are exact minor
units; yen values are floored to the yen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from kinko.domain.custody import CustodyFinding, WalletSigning

__all__ = ["CustodyReport", "CustodyRow", "PendingMove"]


@dataclass(frozen=True)
class CustodyRow:
    asset: str
    decimals: int
    customers: int
    liabilities: int
    hot: int
    warm: int
    cold: int
    own_funds: int
    online_share: Decimal | None  # of holdings, None when nothing is held
    max_hot_ratio: Decimal | None
    guarantee_required: int
    guarantee_held: int
    price_jpy: Decimal | None
    liabilities_jpy: int | None
    online_jpy: int | None
    cold_jpy: int | None
    # online_share <= max_hot_ratio, decided exactly (None: nothing held, or no limit)
    within_limit: bool | None = None


@dataclass(frozen=True)
class PendingMove:
    id: str
    kind: str
    asset: str | None  # None for a move of no one asset (a breaker reset)
    amount: int
    state: str
    approvals: int
    quorum: int


@dataclass(frozen=True)
class CustodyReport:
    generated_at: datetime
    policy_version: int | None
    rows: list[CustodyRow]
    findings: list[CustodyFinding]
    pending: list[PendingMove] = field(default_factory=list)
    total_online_jpy: int | None = None
    total_jpy: int | None = None
    total_max_hot_ratio: Decimal | None = None  # the policy's, or the law's 5%
    # the ordinance's test (Art. 27): customer crypto not held cold (online, or not held at
    # all) against all customer crypto, by yen value (None: not every asset is priced)
    total_owed_jpy: int | None = None
    total_not_offline_jpy: int | None = None
    # per wallet: how it is signed, where its keys live, the co-signer's refusals
    wallets: list[WalletSigning] = field(default_factory=list)

    @property
    def not_offline_share(self) -> Decimal | None:
        if self.total_owed_jpy is None or self.total_not_offline_jpy is None \
                or not self.total_owed_jpy:
            return None
        return Decimal(self.total_not_offline_jpy) / Decimal(self.total_owed_jpy)

    @property
    def breaches(self) -> list[CustodyFinding]:
        """Critical findings: a legal test failed, a policy limit or the books' match with
        the chain is broken (``kinko check`` exits 1)."""
        return [f for f in self.findings if f.severity == "critical"]

    @property
    def legal_breaches(self) -> list[CustodyFinding]:
        """The findings where the law is not met (5%, guarantee, segregation)."""
        return [f for f in self.findings if f.law is not None]

    @property
    def verdict(self) -> str:
        """``legal`` (a legal test failed), ``policy`` (only the policy's limits or the
        reconciliation), or ``ok``."""
        if self.legal_breaches:
            return "legal"
        return "policy" if self.breaches else "ok"
