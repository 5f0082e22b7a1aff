"""Work that writes on the event loop (``SqlStore.on_loop``; SQLite whose commits do not
wait for the disk, and PostgreSQL): the write units of the works a loop runs together share
one batch, committed off the loop once a turn of it added no unit; each work returns only
once that commit is durable (another connection sees its writes), fails with every other
work of its batch when the commit fails, and is undone alone when it raises. Where waiting
would hold the loop (a worker thread's unit has the writers' turn, another process holds
SQLite's write lock, or PostgreSQL's ledger head row for longer than a batch of another
worker takes) it is refused with ``WouldBlock`` before anything is written, for the caller
to run it in a worker thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dbtemplate import migrated_sqlite
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from kinko.domain.ledger import Posting
from kinko.errors import Overdraft, StoreUnavailable
from kinko.ports import WouldBlock
from kinko.services.ledger import Ledger
from kinko.store import SqlStore, open_store
from kinko.store.sql import _GroupCommit


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """A store whose commits do not wait for the disk (``synchronous=NORMAL``): the one
    kind whose work runs on the event loop."""
    if store_url.startswith("sqlite:///"):
        migrated_sqlite(Path(store_url.removeprefix("sqlite:///")))
    s = open_store(store_url, sqlite_synchronous="NORMAL")
    yield s
    s.close()


def _fund(ledger: Ledger, amount: int) -> None:
    ledger.post("fund", [Posting("wallet:xem-hot", "XEM", amount),
                         Posting("customer:a", "XEM", -amount)], source="t")


def _pay(ledger: Ledger, key: str, amount: int = 1) -> Callable[[], str]:
    def work() -> str:
        ledger.post(key, [Posting("customer:a", "XEM", amount),
                          Posting("wallet:xem-hot", "XEM", -amount)], source="t")
        return key
    return work


def _committed(url: str, keys: list[str]) -> set[str]:
    other = open_store(url)  # another connection pool: what is committed only
    try:
        with other.reader() as tx:
            return set(tx.known_keys(keys))
    finally:
        other.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_works_on_the_loop_share_a_batch_and_return_once_it_is_durable(
        ledger: Ledger, store: SqlStore, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)  # one batch, however slow the test
    _fund(ledger, 1000)
    before = store.group_commit()
    kept: list[str] = []
    seen: dict[str, bool] = {}

    async def one(i: int) -> str:
        def work() -> str:
            key = _pay(ledger, f"l-{i}")()
            store.when_durable(lambda: kept.append(key))
            return key
        key = await store.on_loop(work)
        seen[key] = bool(_committed(store_url, [key]))  # durable when on_loop returned
        return key

    async def run() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(20)))

    keys = asyncio.run(run())
    assert keys == [f"l-{i}" for i in range(20)]
    assert all(seen.values()) and len(seen) == 20
    assert sorted(kept) == sorted(keys)  # once each, after the commit
    after = store.group_commit()
    assert after["units"] - before["units"] == 20
    assert after["batches"] - before["batches"] == 1  # the loop ran them in one batch
    assert after["on_loop"] - before["on_loop"] == 20
    assert ledger.balance("customer:a", "XEM") == 1000 - 20
    assert ledger.verify().ok


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_work_on_the_loop_while_statements_are_listened_to(
        ledger: Ledger, store: SqlStore, store_url: str) -> None:
    """A listener of the engine's statements (a profiler, a counter) sends every statement
    through SQLAlchemy: the loop's batch still begins as it must."""
    _fund(ledger, 1000)
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        async def run() -> str:
            return await store.on_loop(_pay(ledger, "listened"))

        assert asyncio.run(run()) == "listened"
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    # the batch begins with the writers' lock: SQLite's, or the ledger head's row, waited
    # for within a bound and the bound lifted once it is held
    assert ("BEGIN IMMEDIATE" in seen if store.dialect == "sqlite" else
            seen[:2] == ["SET LOCAL lock_timeout = 100",
                         "SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE"]
            and "SET LOCAL lock_timeout TO DEFAULT" in seen)
    assert _committed(store_url, ["listened"]) == {"listened"}
    assert store.group_commit()["on_loop"] == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_a_failed_commit_fails_every_work_of_its_batch(
        ledger: Ledger, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _fund(ledger, 1000)
    head = ledger.head()
    kept: list[str] = []

    def failing(self: Connection) -> None:  # the disk is full ...
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    async def one(i: int) -> str | BaseException:
        def work() -> str:
            key = _pay(ledger, f"f-{i}")()
            store.when_durable(lambda: kept.append(key))
            return key
        try:
            return await store.on_loop(work)
        except StoreUnavailable as exc:
            return exc

    async def run() -> list[str | BaseException]:
        return await asyncio.gather(*(one(i) for i in range(5)))

    real = Connection.commit
    monkeypatch.setattr(Connection, "commit", failing)
    outcomes = asyncio.run(run())
    monkeypatch.setattr(Connection, "commit", real)
    assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
    assert kept == []  # never run for a commit that failed
    assert ledger.head() == head  # nothing of any of them
    _pay(ledger, "after")()
    assert ledger.verify().ok


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_work_that_comes_while_a_commit_is_in_flight_waits_for_it_then_runs_on_the_loop(
        ledger: Ledger, store: SqlStore, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fund(ledger, 1000)
    before = store.group_commit()
    real = Connection.commit
    landed: list[str] = []

    def slow(self: Connection) -> None:  # a commit that takes its time on the disk
        threading.Event().wait(0.3)
        real(self)

    async def one(key: str, after: float) -> str:
        await asyncio.sleep(after)
        got = await store.on_loop(_pay(ledger, key))
        landed.append(key)
        return got

    async def run() -> list[str]:
        # "b" comes while the batch of "a" is being committed, off the loop
        return await asyncio.gather(one("a", 0), one("b", 0.1))

    outcome: list[list[str]] = []
    monkeypatch.setattr(Connection, "commit", slow)
    worker = threading.Thread(target=lambda: outcome.append(asyncio.run(run())), daemon=True)
    worker.start()
    worker.join(30)  # a loop that spun waiting for the commit would never get here
    monkeypatch.setattr(Connection, "commit", real)
    assert outcome == [["a", "b"]] and landed == ["a", "b"]
    assert _committed(store_url, ["a", "b"]) == {"a", "b"}
    after = store.group_commit()
    assert (after["batches"] - before["batches"], after["on_loop"] - before["on_loop"]) == (2, 2)

    # the loop above is gone: what its last commit does after telling its works (the log's
    # copy, with the writers' turn held) is not waited for by a new loop's work, which
    # would be refused with WouldBlock (a server runs one loop, and waits for it)
    assert store._committer is not None
    store._committer.submit(lambda: None).result(30)

    async def just_landed() -> str:  # a commit that landed, its callback not run yet
        loop = asyncio.get_running_loop()
        flight: asyncio.Future[None] = loop.create_future()
        flight.set_result(None)
        store._in_flight = (loop, flight)
        return await store.on_loop(_pay(ledger, "c"))

    outcome.clear()
    worker = threading.Thread(target=lambda: outcome.append([asyncio.run(just_landed())]),
                              daemon=True)
    worker.start()
    worker.join(30)
    assert outcome == [["c"]]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_a_work_that_raises_on_the_loop_is_undone_alone(
        ledger: Ledger, store: SqlStore, store_url: str) -> None:
    _fund(ledger, 10)

    async def one(i: int) -> str:
        try:  # every third overdraws
            return await store.on_loop(_pay(ledger, f"u-{i}", 10**6 if i % 3 == 1 else 1))
        except Overdraft:
            return "refused"

    async def run() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(9)))

    outcomes = asyncio.run(run())
    paid = [f"u-{i}" for i in range(9) if i % 3 != 1]
    assert [o for o in outcomes if o != "refused"] == paid
    assert outcomes.count("refused") == 3
    assert _committed(store_url, [f"u-{i}" for i in range(9)]) == set(paid)
    assert ledger.balance("customer:a", "XEM") == 10 - len(paid)
    assert ledger.verify().ok


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_a_worker_threads_unit_that_joins_the_loops_batch_commits_it(
        ledger: Ledger, store: SqlStore, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)  # one batch, however slow the test
    _fund(ledger, 1000)
    before = store.group_commit()

    def work() -> str:
        key = _pay(ledger, "loop")()  # its batch stays open for the loop's next turn ...
        thread = threading.Thread(target=_pay(ledger, "thread"))
        thread.start()  # ... and a worker thread's unit joins it, finds nobody waiting
        thread.join(60)  # and commits both
        return key

    async def run() -> str:
        return await store.on_loop(work)

    assert asyncio.run(run()) == "loop"
    assert _committed(store_url, ["loop", "thread"]) == {"loop", "thread"}
    after = store.group_commit()
    assert (after["batches"] - before["batches"], after["units"] - before["units"]) == (1, 2)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_work_is_refused_on_the_loop_while_a_worker_thread_has_the_turn(
        ledger: Ledger, store: SqlStore, store_url: str) -> None:
    _fund(ledger, 1000)
    inside, release = threading.Event(), threading.Event()

    def holding() -> None:
        with store.unit():
            _pay(ledger, "held")()
            inside.set()
            release.wait(60)

    thread = threading.Thread(target=holding)
    thread.start()
    try:
        assert inside.wait(60)

        async def run() -> str:
            return await store.on_loop(_pay(ledger, "refused"))

        with pytest.raises(WouldBlock):
            asyncio.run(run())
    finally:
        release.set()
        thread.join(60)
    assert _committed(store_url, ["held", "refused"]) == {"held"}
    _pay(ledger, "refused")()  # the same work, in a thread, goes through
    assert _committed(store_url, ["refused"]) == {"refused"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_work_is_refused_on_the_loop_while_another_process_holds_the_write_lock(
        ledger: Ledger, store: SqlStore, store_url: str) -> None:
    _fund(ledger, 1000)
    other = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing (SQLite's write lock)
    try:
        async def run() -> str:
            return await store.on_loop(_pay(ledger, "locked"))

        with pytest.raises(WouldBlock):
            asyncio.run(run())  # at once: the loop does not wait for the lock
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _committed(store_url, ["locked"]) == set()

    async def again() -> str:
        return await store.on_loop(_pay(ledger, "locked"))

    assert asyncio.run(again()) == "locked"  # the lock is free: on the loop
    with store.unit() as u:  # a writer that waits still waits for the lock (not refused)
        assert u.ledger.head()[0] > 0


@contextmanager
def _head_locked(store_url: str) -> Iterator[Callable[[], None]]:
    """Another process's batch: the ledger head's row locked on a connection of its own
    until the callable given releases it (or the block ends)."""
    other = open_store(store_url)
    conn = other.engine.connect()
    tx = conn.begin()
    conn.exec_driver_sql("SELECT seq FROM ledger_head WHERE id = 1 FOR UPDATE")

    def release() -> None:
        if tx.is_active:
            tx.rollback()

    try:
        yield release
    finally:
        release()
        conn.close()
        other.close()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_work_is_refused_on_the_loop_while_another_process_holds_the_ledger_head(
        ledger: Ledger, store: SqlStore, store_url: str) -> None:
    _fund(ledger, 1000)
    head = ledger.head()
    with _head_locked(store_url):
        async def run() -> str:
            return await store.on_loop(_pay(ledger, "locked"))

        began = time.monotonic()
        with pytest.raises(WouldBlock):
            asyncio.run(run())  # after the bound, not for as long as the lock is held
        waited = time.monotonic() - began
    assert waited < 5, waited
    assert ledger.head() == head and _committed(store_url, ["locked"]) == set()
    assert store._group.batch is None and not store._group.turn.locked()

    async def again() -> str:
        return await store.on_loop(_pay(ledger, "locked"))

    assert asyncio.run(again()) == "locked"  # the lock is free: on the loop
    assert store.group_commit()["on_loop"] == 1
    with store.unit() as u:  # the bound was the loop's batch's alone
        assert u.conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_work_stays_in_worker_threads_in_one_of_several_processes_on_postgresql(
        ledger: Ledger, store: SqlStore, store_url: str) -> None:
    """``kinko serve --workers N``: each process's loop would wait for the others'
    batches; the work is handed to a worker thread, where it goes through."""
    _fund(ledger, 1000)
    store.shared_by_processes()

    async def run() -> str:
        return await store.on_loop(_pay(ledger, "elsewhere"))

    with pytest.raises(WouldBlock):
        asyncio.run(run())
    assert _committed(store_url, ["elsewhere"]) == set()
    _pay(ledger, "elsewhere")()
    assert _committed(store_url, ["elsewhere"]) == {"elsewhere"}
    assert store.group_commit()["on_loop"] == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_work_on_the_loop_waits_for_another_process_s_batch_within_the_bound(
        ledger: Ledger, store: SqlStore, store_url: str) -> None:
    """The other worker's batch ends within the bound: the loop's work waits for it and
    goes through on the loop, its head after the other's."""
    _fund(ledger, 1000)
    with _head_locked(store_url) as release:
        timer = threading.Timer(0.03, release)  # well within the bound of 100 ms

        async def run() -> str:
            timer.start()
            return await store.on_loop(_pay(ledger, "waited"))

        assert asyncio.run(run()) == "waited"
        timer.join()
    assert _committed(store_url, ["waited"]) == {"waited"}
    assert store.group_commit()["on_loop"] == 1
    assert ledger.verify().ok


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_whose_commits_wait_for_the_disk_runs_work_in_a_worker_thread(
        store_url: str) -> None:
    full = open_store(store_url)  # synchronous=FULL, the default: a commit's fsync
    try:
        async def run() -> str:
            return await full.on_loop(lambda: "never run")

        with pytest.raises(WouldBlock):
            asyncio.run(run())
    finally:
        full.close()
