"""Custody position per asset: what customers are owed against what the wallets hold.

For each asset: the customers' liabilities, the holdings by tier (hot, warm, cold wallets;
bank accounts for fiat), the exchange's own funds, the coverage (holdings − liabilities)
and the hot share of holdings. Custody policy (the ≤5% rule and rebalancing) builds on
this; here it is only measured, exactly, in minor units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kinko.domain.ledger import BalanceState, normal_balance
from kinko.services.ledger import Ledger

__all__ = ["AssetPosition", "custody_positions"]


@dataclass(frozen=True)
class AssetPosition:
    asset: str
    customers: int  # number of customer accounts holding the asset
    liabilities: int
    held_for_withdrawal: int
    holdings: dict[str, int] = field(default_factory=dict)  # tier or "bank" -> units
    own_funds: int = 0

    @property
    def total_holdings(self) -> int:
        return sum(self.holdings.values())

    @property
    def coverage(self) -> int:
        return self.total_holdings - self.liabilities


def custody_positions(ledger: Ledger) -> list[AssetPosition]:
    """One :class:`AssetPosition` per asset that appears anywhere in the ledger."""
    with ledger.store.reader() as tx:
        customers = tx.sum_balances("customer")
        own = tx.sum_balances("own")
        banks = tx.sum_balances("bank")
        tiers = {w.name: w.tier for w in tx.wallets()}
        wallet_rows = list(tx.balances(kind="wallet"))
    assets = sorted(set(customers) | set(own) | set(banks) | {r.asset for r in wallet_rows})
    out = []
    for asset in assets:
        holdings: dict[str, int] = {"hot": 0, "warm": 0, "cold": 0}
        for r in wallet_rows:
            if r.asset == asset:
                tier = tiers.get(r.account.partition(":")[2], "cold")
                holdings[tier] += normal_balance(r.account, r.state)
        if asset in banks:
            holdings["bank"] = banks[asset][0].balance
        owed, count = customers.get(asset, (BalanceState(), 0))
        out.append(AssetPosition(
            asset=asset,
            customers=count,
            liabilities=-owed.balance,
            held_for_withdrawal=owed.pending_debit,
            holdings=holdings,
            own_funds=-own[asset][0].balance if asset in own else 0,
        ))
    return out
