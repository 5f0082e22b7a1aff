"""The store's unit of work, on SQLite and PostgreSQL: one transaction over every table
group, all or nothing; table-group openers join the open unit; a read joins a write unit,
a write inside a read unit is refused; the shared sum cache never sees a unit that rolled
back; a savepoint undoes its part alone; another thread never joins this thread's unit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from kinko.domain.ledger import BalanceState, Hold, Posting
from kinko.ports import UnitError
from kinko.services.access import Access
from kinko.services.custody import custody_positions
from kinko.services.ledger import Ledger
from kinko.store import SqlStore, open_store

E = 10**6


class Boom(Exception):
    pass


def _row(wid: str) -> dict[str, object]:
    return {"id": wid, "customer": "a", "asset": "XEM", "amount": E, "destination": "0x" + "1" * 40,
            "wallet": "xem-hot", "requested_at": datetime(2018, 1, 25, tzinfo=UTC),
            "requester": "t", "state": "allowed", "decision": "{}", "tx_hash": None}


def _fund(ledger: Ledger) -> None:
    ledger.post("fund", [Posting("wallet:xem-hot", "XEM", 100 * E),
                         Posting("customer:a", "XEM", -100 * E)], source="t")


def test_a_unit_commits_everything_or_nothing(ledger: Ledger, store: SqlStore) -> None:
    _fund(ledger)
    access = Access(store, ledger.clock)
    head = ledger.head()
    with pytest.raises(Boom), store.unit() as unit:
        ledger.open_hold("h1", Hold("w1", "customer:a", "wallet:xem-hot", "XEM", E), source="t")
        with store.screening() as tables:  # joins the unit
            assert tables is unit.screening
            tables.put_withdrawal(_row("W1"))
        access.audit("t", "withdrawal.request", "W1", {})
        raise Boom
    assert ledger.head() == head and ledger.hold("w1") is None
    with store.unit(write=False) as unit:
        assert unit.screening.withdrawal("W1") is None
        assert unit.access.audit_head()[0] == 0
    with store.unit() as unit:
        ledger.open_hold("h1", Hold("w1", "customer:a", "wallet:xem-hot", "XEM", E), source="t")
        unit.screening.put_withdrawal(_row("W1"))
        access.audit("t", "withdrawal.request", "W1", {})
    assert ledger.hold("w1") is not None
    with store.unit(write=False) as unit:
        assert unit.screening.withdrawal("W1") is not None
        assert unit.access.audit_head()[0] == 1
    assert ledger.verify().ok and not access.verify_audit()


def test_nothing_is_visible_outside_until_the_unit_ends(ledger: Ledger, store: SqlStore,
                                                        store_url: str) -> None:
    _fund(ledger)
    other = open_store(store_url)  # another process's view of the same database
    try:
        with store.unit():
            ledger.post("t1", [Posting("customer:a", "XEM", E),
                               Posting("customer:b", "XEM", -E)], source="t")
            with store.reader() as tx:  # a read inside the write unit joins it: sees t1
                assert [r.state.balance for r in tx.balances(account="customer:b")] == [-E]
            with other.reader() as tx:
                assert list(tx.balances(account="customer:b")) == []
        with other.reader() as tx:
            assert [r.state.balance for r in tx.balances(account="customer:b")] == [-E]
    finally:
        other.close()


def test_a_read_unit_is_one_snapshot_and_ends_its_transaction(ledger: Ledger, store: SqlStore,
                                                                store_url: str) -> None:
    """A read unit sees the database as it was at its first read, through the driver's
    statements (the ledger head) and SQLAlchemy's (balances) alike, whatever another
    process commits meanwhile; one that raises ends its transaction too."""
    _fund(ledger)
    other = open_store(store_url)  # another process writing the same database
    try:
        with store.reader() as tx:
            assert [r.state.balance for r in tx.balances(account="customer:a")] == [-100 * E]
            Ledger(other, ledger.clock, ledger.assets).post(
                "t1", [Posting("customer:a", "XEM", E), Posting("customer:b", "XEM", -E)],
                source="t")
            assert list(tx.balances(account="customer:b")) == []
            head = tx.head()
            assert list(tx.balances(account="customer:b")) == []
        for _ in range(2 * 5 + 1):  # every pooled connection: none is left in a transaction
            with pytest.raises(Boom), store.reader() as tx:
                assert tx.head()[0] == head[0] + 1
                raise Boom
        ledger.post("t2", [Posting("customer:a", "XEM", E), Posting("customer:b", "XEM", -E)],
                    source="t")
        with store.reader() as tx:
            assert tx.head()[0] == head[0] + 2
            assert [r.state.balance for r in tx.balances(account="customer:b")] == [-2 * E]
    finally:
        other.close()


def test_a_write_inside_a_read_unit_is_refused(ledger: Ledger, store: SqlStore) -> None:
    with store.unit(write=False):
        with pytest.raises(UnitError):
            ledger.post("t1", [Posting("customer:a", "XEM", E),
                               Posting("customer:b", "XEM", -E)], source="t")
        with store.reader() as tx:  # reads still join
            assert tx.head()[0] == 0
    assert store.current() is None


def test_a_rolled_back_unit_leaves_the_sum_cache_right(ledger: Ledger, store: SqlStore) -> None:
    _fund(ledger)
    before = custody_positions(ledger)  # caches the sums at the current head
    with pytest.raises(Boom), store.unit():
        ledger.post("t1", [Posting("wallet:xem-hot", "XEM", 5 * E),
                           Posting("customer:c", "XEM", -5 * E)], source="t")
        inside = custody_positions(ledger)  # summed in the unit, not cached
        assert [p.liabilities for p in inside] == [105 * E]
        raise Boom
    assert custody_positions(ledger) == before
    ledger.post("t2", [Posting("wallet:xem-hot", "XEM", 7 * E),
                       Posting("customer:d", "XEM", -7 * E)], source="t")
    with store.reader() as tx:
        fresh = tx._sum_balances("customer")
        assert tx.sum_balances("customer") == fresh
    assert fresh["XEM"] == (BalanceState(-107 * E), 2)


def test_a_savepoint_undoes_its_part_alone(ledger: Ledger, store: SqlStore) -> None:
    _fund(ledger)
    with store.unit() as unit:
        unit.screening.put_withdrawal(_row("W1"))
        with pytest.raises(Boom), unit.savepoint():
            unit.screening.put_withdrawal(_row("W2"))
            ledger.post("t1", [Posting("customer:a", "XEM", E),
                               Posting("customer:b", "XEM", -E)], source="t")
            raise Boom
        ledger.post("t2", [Posting("customer:a", "XEM", 2 * E),
                           Posting("customer:b", "XEM", -2 * E)], source="t")
    with store.unit(write=False) as unit:
        assert unit.screening.withdrawal("W1") is not None
        assert unit.screening.withdrawal("W2") is None
    assert ledger.balance("customer:b", "XEM") == 2 * E
    assert [e.key for e in ledger.entries()] == ["fund", "t2"]
    assert ledger.verify().ok


def test_another_thread_never_joins_and_waits_for_the_writer(ledger: Ledger,
                                                             store: SqlStore) -> None:
    _fund(ledger)
    seen: list[object] = []
    entered = threading.Event()

    def other() -> None:
        seen.append(store.current())
        entered.set()
        ledger.post("t2", [Posting("customer:a", "XEM", E),
                           Posting("customer:c", "XEM", -E)], source="t")

    with store.unit():
        ledger.post("t1", [Posting("customer:a", "XEM", E),
                           Posting("customer:b", "XEM", -E)], source="t")
        thread = threading.Thread(target=other)
        thread.start()
        entered.wait(10)
        thread.join(0.3)
        assert thread.is_alive()  # queued behind this unit's write lock
    thread.join(30)
    assert seen == [None]
    assert [e.key for e in ledger.entries()] == ["fund", "t1", "t2"]
    assert ledger.verify().ok
