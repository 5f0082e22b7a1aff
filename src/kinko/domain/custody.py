"""Custody: the exchange's wallets and their tiers.

A :class:`Wallet` is one exchange wallet for one asset, in a tier: ``hot`` (keys online,
signs withdrawals), ``warm`` or ``cold`` (watch-only for kinko: it never holds their keys).
In the ledger it is the debit-normal account ``wallet:<name>``::

    >>> Wallet("xem-hot", "XEM", "hot", ("NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG",)).account
    'wallet:xem-hot'

The custody policy (hot share ≤ 5%, rebalancing, approvals) builds on these records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kinko.errors import InvalidAccount

__all__ = ["TIERS", "Tier", "Wallet"]

Tier = Literal["hot", "warm", "cold"]
TIERS: tuple[Tier, ...] = ("hot", "warm", "cold")
_WALLET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Wallet:
    """One exchange wallet: name, the asset it holds, its tier and its chain addresses."""

    name: str
    asset: str
    tier: Tier
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _WALLET_NAME.match(self.name):
            raise InvalidAccount(
                f"wallet name {self.name!r} must be 1-64 lower-case letters, digits, '.', '_' "
                "or '-', starting with a letter or digit",
                wallet=self.name,
            )
        if self.tier not in TIERS:
            raise InvalidAccount(
                f"wallet {self.name}: tier must be one of {', '.join(TIERS)}, not {self.tier!r}",
                wallet=self.name,
            )

    @property
    def account(self) -> str:
        return f"wallet:{self.name}"
