"""The lists screening reads of a customer (allow list, latest amounts, destinations) that a
process keeps between their requests, on SQLite and PostgreSQL: what another process (a
second server, the CLI) writes to the same database is seen by the next request, as if
nothing were kept: a withdrawal added, withdrawals no longer counted, an address allowed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kinko.domain.ledger import Posting
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals
from kinko.store import SqlStore, open_store
from kinko.store.screening_sql import SqlScreening
from kinko.store.sql import _GroupCommit

E = 10**18
TO, OTHER, THIRD = ("0x" + "12" * 20, "0x" + "34" * 20, "0x" + "56" * 20)


def _kinds(w: Withdrawals, wid: str, to: str, amount: int = E) -> set[str]:
    view = w.request(wid, "C1", "ETH", amount, to, requester="ops")
    return {h.kind for h in view.decision.hits}


@pytest.fixture
def pair(ledger: Ledger, clock: FixedClock, store_url: str, tmp_path: Path
         ) -> Iterator[tuple[Withdrawals, Withdrawals]]:
    """kinko's server (``w``) and another process on the same database (``other``)."""
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 60 * E),
                         Posting("customer:C1", "ETH", -60 * E)], source="opening")
    (tmp_path / "p.toml").write_text(
        'version = 1\nquorum = 1\n[[approvers]]\nname = "alice"\npublic_key = "'
        + "00" * 32 + '"\n[screening]\n'
        '[[screening.rules]]\nkind = "new_destination"\naction = "review"\n'
        '[[screening.rules]]\nkind = "allow_list"\ncooling_off = "1h"\naction = "review"\n'
        '[[screening.rules]]\nkind = "zscore"\nasset = "ETH"\nthreshold = "3.5"\n'
        'min_history = 3\naction = "review"\n')
    Custody(ledger).load_policy(tmp_path / "p.toml", "ops")
    second: SqlStore = open_store(store_url)
    other = Withdrawals(Custody(Ledger(second, clock, ledger.assets)))
    yield Withdrawals(Custody(ledger)), other
    second.close()


def test_what_another_process_writes_is_seen_by_the_next_request(
        pair: tuple[Withdrawals, Withdrawals], clock: FixedClock) -> None:
    w, other = pair
    assert _kinds(w, "a1", TO) == {"new_destination", "allow_list"}
    assert _kinds(w, "a2", TO) == {"allow_list"}  # its own withdrawal: TO is known now
    other.request("b1", "C1", "ETH", E, OTHER, requester="ops")
    assert _kinds(w, "a3", OTHER) == {"allow_list"}  # the other process's withdrawal
    other.allow("C1", THIRD, "ETH")
    clock.advance(hours=2)
    assert _kinds(w, "a4", THIRD) == {"new_destination"}  # allowed by the other process
    for wid in ("a1", "a2"):  # no longer counted: TO is new again
        other.reject(wid, "ops", "not this one")
    assert _kinds(w, "a5", TO) == {"new_destination", "allow_list"}


def test_the_amounts_compared_are_those_stored(pair: tuple[Withdrawals, Withdrawals]) -> None:
    w, other = pair
    small = E // 1000
    assert "zscore" not in _kinds(w, "a0", TO, small)
    for i in range(4):  # the other process's: 1 ETH is far above five small amounts
        other.request(f"b{i}", "C1", "ETH", small, TO, requester="ops")
    assert "zscore" in _kinds(w, "a1", TO)
    for i in range(4):  # no longer counted: two amounts are too few to judge by
        other.reject(f"b{i}", "ops", "not these")
    assert "zscore" not in _kinds(w, "a2", TO)


def test_a_process_keeps_the_lists_of_so_many_customers(
        pair: tuple[Withdrawals, Withdrawals], monkeypatch: pytest.MonkeyPatch) -> None:
    w, _ = pair
    w.ledger.post("C2", [Posting("wallet:eth-hot", "ETH", 5 * E),
                         Posting("customer:C2", "ETH", -5 * E)], source="opening")
    monkeypatch.setattr("kinko.services.withdrawals._KEPT_LISTS", 1)
    w.request("a1", "C1", "ETH", E, TO, requester="ops")
    w.request("a2", "C2", "ETH", E, TO, requester="ops")
    assert list(w._lists) == [("C2", "ETH")]  # the longest kept made room
    assert _kinds(w, "a3", TO) == {"allow_list"}  # C1's read again: TO known


def test_a_customer_with_kept_lists_reads_nothing_before_the_writers_lock(
        pair: tuple[Withdrawals, Withdrawals], monkeypatch: pytest.MonkeyPatch) -> None:
    """Their marks are read under the lock anyway, with everything a racing writer may
    change: a read before it would only repeat them. A retry is answered there too."""
    w, other = pair
    opened: list[bool] = []
    unit = type(w.store).unit

    def counting(store: SqlStore, *, write: bool = True, snapshot: bool = True) -> Any:
        if store.current() is None:
            opened.append(write)
        return unit(store, write=write, snapshot=snapshot)

    monkeypatch.setattr(type(w.store), "unit", counting)
    w.request("a1", "C1", "ETH", E, TO, requester="ops")
    assert opened[:2] == [False, True]  # none kept: read first, then the write unit
    opened.clear()
    assert w.request("a1", "C1", "ETH", E, TO, requester="ops").id == "a1"  # a retry
    assert opened == [True]
    other.request("b1", "C1", "ETH", E, OTHER, requester="ops")  # moves C1's history
    opened.clear()
    assert _kinds(w, "a2", OTHER) == {"allow_list"}  # the other's withdrawal counted
    assert opened[:1] == [True]
    opened.clear()  # the lists read again under the lock are kept, with a2 in them
    assert _kinds(w, "a3", THIRD) == {"new_destination", "allow_list"}
    assert opened[:1] == [True]
    kept = w._lists[("C1", "ETH")][1]
    with w.store.screening() as tables:
        marks, allowed, amounts, newest = tables.request_inputs("-", "C1", "ETH", "")
    assert (kept.marks.history, kept.allow_list, kept.amounts, kept.newest) == (
        marks.history, allowed, tuple(amounts), newest)
    assert kept.amounts == (E, E, E, E)
    assert sorted(v.id for v in w.find()) == ["a1", "a2", "a3", "b1"]


def test_requests_of_one_customer_in_one_batch_hand_their_lists_on(
        pair: tuple[Withdrawals, Withdrawals], monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests of one customer whose units share a transaction (group commit): each later
    one takes the latest amounts as the one before left them, not read again under the
    writers' lock, and the lists the process keeps after the batch are those stored."""
    w, _ = pair
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)  # one batch, however slow the test
    for i in range(3):
        w.request(f"a{i}", "C1", "ETH", E + i, TO, requester="ops")
    reads: list[str] = []
    amounts = SqlScreening.customer_amounts

    def counting(self: SqlScreening, customer: str, asset: str, limit: int = 20
                 ) -> tuple[list[int], int | None]:
        reads.append(customer)
        return amounts(self, customer, asset, limit)

    monkeypatch.setattr(SqlScreening, "customer_amounts", counting)
    release = threading.Event()

    def hold_the_turn() -> None:
        with w.store.unit():
            release.wait(timeout=60)

    holder = threading.Thread(target=hold_the_turn)
    holder.start()
    while w.store._group.batch is None:  # type: ignore[attr-defined]
        threading.Event().wait(0.01)
    views: dict[int, set[str]] = {}

    def one(i: int) -> None:
        views[i] = _kinds(w, f"b{i}", TO, 2 * E + i)

    requests = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in requests:
        t.start()
    while w.store._group.waiting < 4:  # type: ignore[attr-defined]
        threading.Event().wait(0.01)
    release.set()
    for t in (holder, *requests):
        t.join(60)
    assert len(views) == 4
    assert reads == []  # each took its amounts from the one before it in the batch
    kept = w._lists[("C1", "ETH")][1]
    with w.store.screening() as tables:
        marks, _, stored, newest = tables.request_inputs("-", "C1", "ETH", "")
    assert kept.marks.history == marks.history == (7, 7)
    assert sorted(kept.amounts) == sorted(stored) == [E, E + 1, E + 2, *(2 * E + i
                                                                        for i in range(4))]
    assert kept.newest == newest
