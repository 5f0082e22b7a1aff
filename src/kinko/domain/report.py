"""Report models: data only, built by services, rendered by :mod:`kinko.render`.

A :class:`CustodyReport` answers the FSA's first questions per asset: how much customer
crypto is held online and in what share, how much is cold, whether the exchange's own
performance-guarantee crypto covers the online part, and what breaches and pending moves
exist. Amounts are exact minor units; yen values are floored to the yen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from kinko.domain.custody import CustodyFinding

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
    total_max_hot_ratio: Decimal | None = None

    @property
    def breaches(self) -> list[CustodyFinding]:
        return [f for f in self.findings if f.severity == "critical"]
