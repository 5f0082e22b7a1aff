"""The summed balances a read transaction serves from the store's cache (brought forward by
the entries since) equal the balances table summed afresh, after every kind of entry."""

from __future__ import annotations

import pytest

from kinko.domain.ledger import BalanceState, Hold, Posting
from kinko.services.custody import custody_positions
from kinko.services.ledger import Ledger
from kinko.store import SqlStore
from kinko.store.sql import SqlLedger

KINDS = ("customer", "own", "bank", "wallet", "clearing")


def _fresh(store: SqlStore) -> dict[str, dict[str, tuple[BalanceState, int]]]:
    with store.reader() as tx:
        return {kind: tx._sum_balances(kind) for kind in KINDS}


def _served(store: SqlStore) -> dict[str, dict[str, tuple[BalanceState, int]]]:
    with store.reader() as tx:
        return {kind: tx.sum_balances(kind) for kind in KINDS}


def test_sums_brought_forward_equal_sums_read_afresh(ledger: Ledger, store: SqlStore,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    forwarded: list[int] = []
    original = SqlLedger._forward

    def counting(self: SqlLedger, kind: str, since: int, seq: int,
                 sums: dict[str, list[int]]) -> dict[str, list[int]]:
        forwarded.append(seq - since)
        return original(self, kind, since, seq, sums)

    monkeypatch.setattr(SqlLedger, "_forward", counting)
    assert _served(store) == _fresh(store)  # empty ledger: cached at seq 0
    ledger.post("d1", [Posting("wallet:xem-hot", "XEM", 10**20),
                       Posting("customer:a", "XEM", -10**20)], source="t")
    assert _served(store) == _fresh(store)  # from seq 0: read afresh
    steps = [
        lambda: ledger.post("d2", [Posting("wallet:xem-hot", "XEM", 5 * 10**19),
                                   Posting("customer:b", "XEM", -2 * 10**19),
                                   Posting("customer:c", "XEM", -3 * 10**19)], source="t"),
        lambda: ledger.post("d3", [Posting("wallet:eth-hot", "ETH", 7),
                                   Posting("own", "ETH", -7)], source="t"),
        lambda: ledger.open_hold("h1", Hold("w1", "customer:a", "clearing:out", "XEM", 10**18),
                                 source="t"),
        lambda: ledger.open_hold("h2", Hold("w2", "customer:b", "clearing:out", "XEM", 10**18),
                                 source="t"),
        lambda: ledger.post_hold("p1", "w1", source="t"),
        lambda: ledger.void_hold("v2", "w2", source="t"),
        # a customer who only moves between two customers' accounts, and a zero-sum leg
        lambda: ledger.post("d4", [Posting("customer:c", "XEM", 10**18),
                                   Posting("customer:new", "XEM", -10**18)], source="t"),
        lambda: ledger.post("d5", [Posting("bank:jpy", "JPY", 100),
                                   Posting("customer:a", "JPY", -100)], source="t"),
    ]
    for step in steps:  # one entry at a time, then several between two reads
        step()
        assert _served(store) == _fresh(store)
    for n in range(3):
        ledger.post(f"e{n}", [Posting("wallet:xem-hot", "XEM", 1),
                              Posting(f"customer:late{n}", "XEM", -1)], source="t")
    assert _served(store) == _fresh(store)
    assert forwarded and max(forwarded) == 3  # the cache was used, not read afresh
    counts = {asset: n for asset, (_, n) in _served(store)["customer"].items()}
    assert counts == {"XEM": 7, "JPY": 1}


def test_positions_do_not_change_with_the_cache(ledger: Ledger, store: SqlStore) -> None:
    ledger.post("d1", [Posting("wallet:xem-hot", "XEM", 100),
                       Posting("customer:a", "XEM", -100)], source="t")
    first = custody_positions(ledger)
    assert custody_positions(ledger) == first
    ledger.post("d2", [Posting("wallet:xem-hot", "XEM", 50),
                       Posting("customer:b", "XEM", -50)], source="t")
    after = custody_positions(ledger)
    store._sums.known.clear()
    assert custody_positions(ledger) == after
    assert after[0].customers == 2 and after[0].liabilities == 150
