"""Group commit, on SQLite and PostgreSQL: concurrent write units of one process share
transactions (batches of more than one unit form under load), yet each unit stays all or
nothing (one that raises leaves nothing, the others of its batch commit), each returns only
once its batch is durable (another connection sees its writes at once), and when a batch's
commit fails every unit in it fails and nothing of any of them is written. The hash chain
stays one chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from kinko.domain.ledger import Hold, Posting
from kinko.errors import KinkoError, Overdraft, StoreUnavailable
from kinko.ports import FixedClock
from kinko.services.access import Access
from kinko.services.ledger import Ledger
from kinko.store import SqlStore, open_store
from kinko.store.driver import defer
from kinko.store.sql import _GroupCommit

UNITS = 60


def _fund(ledger: Ledger, amount: int) -> None:
    ledger.post("fund", [Posting("wallet:xem-hot", "XEM", amount),
                         Posting("customer:a", "XEM", -amount)], source="t")


def _spend(ledger: Ledger, key: str) -> None:
    """One XEM of customer a's paid out of the hot wallet, under ``key``."""
    ledger.post(key, [Posting("customer:a", "XEM", 1),
                      Posting("wallet:xem-hot", "XEM", -1)], source="t")


def _pay(ledger: Ledger, access: Access, i: int, gate: threading.Barrier) -> str:
    """One unit: a withdrawal's ledger entry and its audit record; every 5th overdraws.
    The first units start together, so that the others queue behind them."""
    if i < gate.parties:
        gate.wait(timeout=60)
    amount = 10**9 if i % 5 == 0 else 1
    try:
        with ledger.store.unit():
            ledger.post(f"w-{i}", [Posting("customer:a", "XEM", amount),
                                   Posting("wallet:xem-hot", "XEM", -amount)], source="t")
            access.audit("t", "pay", f"w-{i}", {})
    except Overdraft:
        return "refused"
    return "paid"


def _queued(store: SqlStore, waiting: int) -> None:
    """Wait until ``waiting`` units queue for the writers' turn."""
    while store._group.waiting < waiting:
        threading.Event().wait(0.01)


def _release_when_queued(store: SqlStore, waiting: int, release: threading.Event,
                         threads: list[threading.Thread]) -> None:
    """Once ``waiting`` units queue for the writers' turn, ``release`` the one holding it,
    and wait for every thread."""
    _queued(store, waiting)
    release.set()
    for t in threads:
        t.join(60)


def test_units_share_batches_and_stay_all_or_nothing(ledger: Ledger, store: SqlStore,
                                                     store_url: str) -> None:
    _fund(ledger, 1000)
    access = Access(store, ledger.clock)
    before = store.group_commit()
    gate = threading.Barrier(16)
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: _pay(ledger, access, i, gate), range(UNITS)))
    assert results.count("refused") == UNITS // 5
    after = store.group_commit()
    assert after["units"] - before["units"] == UNITS * 4 // 5  # refused units left nothing
    assert after["batches"] - before["batches"] < UNITS * 4 // 5  # some were grouped
    assert after["largest"] > 1
    other = open_store(store_url)  # another connection pool: what is committed only
    try:
        seen = Ledger(other, ledger.clock, ledger.assets)
        assert seen.balance("customer:a", "XEM") == 1000 - UNITS * 4 // 5
        audited = {a["target"] for a in Access(other, ledger.clock).audit_log(limit=1000)}
        assert audited == {f"w-{i}" for i in range(UNITS) if i % 5}
        assert seen.verify().ok and Access(other, ledger.clock).verify_audit() == []
    finally:
        other.close()


def test_a_unit_returns_once_its_batch_is_durable(ledger: Ledger, store: SqlStore,
                                                  store_url: str) -> None:
    _fund(ledger, 1000)
    other = open_store(store_url)  # another connection pool: what is committed only
    gate = threading.Barrier(8)
    misses: list[int] = []

    def pay_and_look(i: int) -> None:
        gate.wait(timeout=60)
        _spend(ledger, f"d-{i}")
        with other.reader() as tx:
            if not tx.known_keys([f"d-{i}"]):
                misses.append(i)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(pay_and_look, range(40)))
    finally:
        other.close()
    assert misses == []


def test_a_failed_commit_fails_every_unit_of_its_batch(ledger: Ledger, store: SqlStore,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _fund(ledger, 1000)
    head = ledger.head()
    from sqlalchemy.engine import Connection

    real = Connection.commit
    entered = threading.Event()
    release = threading.Event()
    outcomes: dict[int, Any] = {}

    def failing(self: Connection) -> None:  # the disk is full, the server went away ...
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    def first(i: int) -> None:
        try:
            with store.unit():
                _spend(ledger, f"f-{i}")
                entered.set()
                release.wait(timeout=60)  # the others queue behind this unit meanwhile
            outcomes[i] = "ok"
        except StoreUnavailable as exc:
            outcomes[i] = exc

    def later(i: int) -> None:
        entered.wait(timeout=60)
        try:
            _spend(ledger, f"f-{i}")
            outcomes[i] = "ok"
        except StoreUnavailable as exc:
            outcomes[i] = exc

    monkeypatch.setattr(Connection, "commit", failing)
    threads = [threading.Thread(target=first, args=(0,))]
    threads += [threading.Thread(target=later, args=(i,)) for i in range(1, 6)]
    for t in threads:
        t.start()
    entered.wait(timeout=60)
    _release_when_queued(store, 5, release, threads)
    monkeypatch.setattr(Connection, "commit", real)
    assert all(isinstance(o, StoreUnavailable) for o in outcomes.values()), outcomes
    assert len(outcomes) == 6
    assert ledger.head() == head  # nothing of any of them
    _spend(ledger, "after")
    assert ledger.verify().ok


def test_a_batch_carries_its_units_audit_head_and_hold_expiry(
        ledger: Ledger, store: SqlStore, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The second unit of a batch does not read the audit head or the holds' earliest
    expiry again: it is handed them by the first. A hold the first opens, due by the time
    the second runs, is expired by the second; both audit records chain."""
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)  # one batch, however slow the test
    _fund(ledger, 1000)
    access = Access(store, clock)
    entered, release = threading.Event(), threading.Event()
    before = store.group_commit()

    def first() -> None:
        with store.unit():
            ledger.open_hold("h1", Hold("h1", "customer:a", "wallet:xem-hot", "XEM", 5,
                                        clock.now() + timedelta(minutes=1)), source="t")
            access.audit("t", "hold", "h1", {})
            entered.set()
            release.wait(timeout=60)  # the second queues behind it meanwhile

    def second() -> None:
        entered.wait(timeout=60)
        with store.unit():
            _spend(ledger, "p")
            access.audit("t", "pay", "p", {})

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    entered.wait(timeout=60)
    clock.advance(minutes=2)  # h1 is due when the second unit runs
    threads[1].start()
    _release_when_queued(store, 1, release, threads)
    after = store.group_commit()
    assert (after["batches"] - before["batches"], after["largest"]) == (1, 2)
    held = ledger.hold("h1")
    assert held is not None and held[1] == "expired"
    assert ledger.verify().ok and access.verify_audit() == []
    assert [a["target"] for a in access.audit_log()] == ["h1", "p"]


def test_a_batchs_first_unit_that_fails_leaves_nothing(ledger: Ledger, store: SqlStore,
                                                      clock: FixedClock) -> None:
    """The first unit of a batch runs without a savepoint: when it fails, the batch's
    transaction is rolled back whole, and the next unit starts afresh."""
    _fund(ledger, 10)
    access = Access(store, clock)
    head = ledger.head()
    with pytest.raises(Overdraft), store.unit():
        ledger.post("x1", [Posting("customer:a", "XEM", 4),
                           Posting("wallet:xem-hot", "XEM", -4)], source="t")
        access.audit("t", "pay", "x1", {})
        ledger.post("x2", [Posting("customer:a", "XEM", 40),
                           Posting("wallet:xem-hot", "XEM", -40)], source="t")
    assert ledger.head() == head and access.audit_log() == []
    with store.unit():
        ledger.post("x3", [Posting("customer:a", "XEM", 4),
                           Posting("wallet:xem-hot", "XEM", -4)], source="t")
        access.audit("t", "pay", "x3", {})
    assert ledger.balance("customer:a", "XEM") == 6
    assert ledger.verify().ok and access.verify_audit() == []
    assert [a["target"] for a in access.audit_log()] == ["x3"]


def test_units_undone_alone_inside_a_batch(ledger: Ledger, store: SqlStore, clock: FixedClock,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """One batch of six units: behind the first, one fails after it wrote (its entry and
    its audit record), one before it sent anything, one with a failing write still held;
    each is undone alone (the savepoint a unit takes travels with its first statement),
    the other three commit, one chain."""
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)  # one batch, however slow the test
    _fund(ledger, 1000)
    access = Access(store, clock)
    entered, release = threading.Event(), threading.Event()
    before = store.group_commit()
    outcomes: dict[str, str] = {}

    def unit(name: str) -> None:
        try:
            with store.unit():
                if name == "early":
                    raise RuntimeError("refused before any statement")
                _spend(ledger, name)
                access.audit("t", "pay", name, {})
                if name == "first":
                    entered.set()
                    release.wait(timeout=60)  # the others queue behind it meanwhile
                if name == "late":
                    raise RuntimeError("refused after its writes")
                if name == "held":  # a write that would fail, still held when it fails
                    p = "?" if store.dialect == "sqlite" else "%s"
                    defer(store.current().conn,  # type: ignore[union-attr]
                          f"INSERT INTO stamps (name, n) VALUES ({p}, {p})", ("database", 1))
                    raise RuntimeError("refused with a write held")
            outcomes[name] = "ok"
        except (RuntimeError, IntegrityError):
            outcomes[name] = "undone"

    names = ["first", "late", "b", "early", "held", "c"]
    threads = [threading.Thread(target=unit, args=(name,)) for name in names]
    threads[0].start()
    entered.wait(timeout=60)
    for t in threads[1:]:
        t.start()
    _release_when_queued(store, 5, release, threads)
    after = store.group_commit()
    assert outcomes == {"first": "ok", "late": "undone", "b": "ok", "early": "undone",
                        "held": "undone", "c": "ok"}
    assert (after["batches"] - before["batches"], after["largest"]) == (1, 3)
    assert ledger.balance("customer:a", "XEM") == 1000 - 3
    with store.reader() as tx:
        assert tx.known_keys(names) == {"first", "b", "c"}
    assert ledger.verify().ok and access.verify_audit() == []
    assert sorted(a["target"] for a in access.audit_log()) == ["b", "c", "first"]


def test_a_batch_takes_no_more_units_than_its_database_allows(
        ledger: Ledger, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """However many writers queue, a batch closes at its limit and the rest go to the next:
    on PostgreSQL 64 units (each after the first a subtransaction; past 64 the server's
    cache of them overflows and slows every other session), elsewhere 256 (here lowered to 8
    so that the test stays small)."""
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)  # never closed for its age
    limit = 64 if store.dialect == "postgresql" else 8
    if store.dialect != "postgresql":
        monkeypatch.setattr(store._group, "max_units", limit)
    assert store._group.max_units == limit
    _fund(ledger, 10_000)
    entered, release = threading.Event(), threading.Event()
    before = store.group_commit()
    queued = limit + 6

    def first() -> None:
        with store.unit():
            _spend(ledger, "w-first")
            entered.set()
            release.wait(timeout=60)  # the others queue behind it meanwhile

    def other(i: int) -> None:
        with store.unit():
            _spend(ledger, f"w-{i}")

    holder = threading.Thread(target=first)
    holder.start()
    entered.wait(timeout=60)
    threads = [threading.Thread(target=other, args=(i,)) for i in range(queued)]
    for t in threads:
        t.start()
    _release_when_queued(store, queued, release, [holder, *threads])
    after = store.group_commit()
    assert after["largest"] == limit
    assert after["units"] - before["units"] == queued + 1
    assert after["batches"] - before["batches"] >= 2
    assert ledger.verify().ok


def test_a_batch_reads_what_the_writer_before_it_committed(store: SqlStore,
                                                           clock: FixedClock) -> None:
    """A batch that waited for the writers' lock while another process's batch held it
    starts from what that batch committed: the stamps (a key it created) and the audit
    head its units are handed, read with the lock, are read once the lock is theirs."""
    other = open_store(store.engine.url.render_as_string(hide_password=False))
    access, theirs = Access(store, clock), Access(other, clock)
    access.audit("t", "before", "x", {})
    entered, release = threading.Event(), threading.Event()
    seen: list[Any] = []

    def holder() -> None:
        with other.unit():
            theirs.create_key("k", "operator")
            theirs.audit("t", "theirs", "y", {})
            entered.set()
            release.wait(timeout=60)

    def waiter() -> None:
        with store.unit() as u:
            seen.append((u.stamps()["api_keys"], u.access.audit_head()))

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    threads[0].start()
    assert entered.wait(timeout=60)
    threads[1].start()
    if store.dialect == "postgresql":  # the waiter's batch waits for the lock
        with store.engine.connect() as conn:
            while not conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()").scalar():
                threading.Event().wait(0.01)
                conn.rollback()
    release.set()
    for t in threads:
        t.join(60)
    other.close()
    last = access.audit_log()[-1]
    assert last["action"] == "theirs"
    assert seen == [(store.stamps()["api_keys"], (last["seq"], last["hash"]))]


class _Taken(KinkoError):
    pass


def _held_conflict(store: SqlStore, name: str, ledger: Ledger, behind: int,
                   inside: threading.Event) -> None:
    """A unit that pays ``name`` and holds a write that fails on its key, and ends once
    ``behind`` units queue for the turn (so that the batch goes on after it)."""
    with store.unit() as u:
        inside.set()
        _spend(ledger, name)
        p = "?" if store.dialect == "sqlite" else "%s"
        defer(u.conn, f"INSERT INTO stamps (name, n) VALUES ({p}, {p})", ("database", 1),
              conflict=_Taken)
        _queued(store, behind)


def test_a_held_write_that_fails_with_the_next_units_statement_is_its_units_alone(
        ledger: Ledger, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit followed by waiting units leaves its last writes held, to travel with the
    next unit's first statement (PostgreSQL: no round trip of their own under the writers'
    lock). When one of them fails there, its unit fails with that write's error and is
    undone alone (its savepoint); the unit whose statement carried it, made on top of it,
    is undone too and told it may try again; the unit before it and the one after it
    commit, one chain. On SQLite the write fails in its own unit at once."""
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)  # one batch, however slow the test
    _fund(ledger, 1000)
    entered, release, inside = threading.Event(), threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def unit(name: str) -> None:
        try:
            if name == "bad":
                _held_conflict(store, name, ledger, 2, inside)
            else:
                with store.unit():
                    _spend(ledger, name)
                    if name == "first":
                        entered.set()
                        release.wait(timeout=60)
            outcomes[name] = "ok"
        except _Taken:
            outcomes[name] = "taken"
        except StoreUnavailable:
            outcomes[name] = "again"

    # "bad" takes the turn after "first", and waits there for the units behind it
    first, bad = _first_then_bad(store, unit, entered, release, inside)
    later = [threading.Thread(target=unit, args=(name,)) for name in ("b", "c")]
    for t in later:
        t.start()
    for t in (first, bad, *later):
        t.join(60)
    assert (outcomes["first"], outcomes["bad"]) == ("ok", "taken")
    if store.dialect == "postgresql":
        assert sorted([outcomes["b"], outcomes["c"]]) == ["again", "ok"]
    else:
        assert (outcomes["b"], outcomes["c"]) == ("ok", "ok")
    paid = {name for name, outcome in outcomes.items() if outcome == "ok"}
    assert ledger.balance("customer:a", "XEM") == 1000 - len(paid)
    with store.reader() as tx:
        assert tx.known_keys(["first", "bad", "b", "c"]) == paid
    assert ledger.verify().ok
    with store.unit():  # the batch after it goes on from what was committed
        _spend(ledger, "after")
    assert ledger.verify().ok


def _first_then_bad(store: SqlStore, unit: Callable[[str], None], entered: threading.Event,
                    release: threading.Event, inside: threading.Event
                    ) -> tuple[threading.Thread, threading.Thread]:
    """Unit "first" holds the turn until unit "bad" queues behind it, then lets it in;
    returns once "bad" is inside its unit."""
    first = threading.Thread(target=unit, args=("first",))
    first.start()
    entered.wait(timeout=60)
    bad = threading.Thread(target=unit, args=("bad",))
    bad.start()
    _queued(store, 1)
    release.set()
    inside.wait(timeout=60)
    return first, bad


def _then(unit: Callable[[str], None], name: str, *started: threading.Thread) -> None:
    """Unit ``name`` started behind the units ``started``; once all of them ended."""
    later = threading.Thread(target=unit, args=(name,))
    later.start()
    for t in (*started, later):
        t.join(60)


def test_a_held_write_that_fails_at_the_commit_is_its_units_alone(
        ledger: Ledger, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit's writes left held for the unit behind it, which then fails before any
    statement of its own: they are sent before the batch's commit, and one that fails
    there fails its unit alone; the batch's other unit commits."""
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)
    _fund(ledger, 1000)
    entered, release, inside = threading.Event(), threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def unit(name: str) -> None:
        try:
            if name == "bad":
                _held_conflict(store, name, ledger, 1, inside)
            else:
                with store.unit():
                    if name == "early":
                        raise RuntimeError("refused before any statement")
                    _spend(ledger, name)
                    entered.set()
                    release.wait(timeout=60)
            outcomes[name] = "ok"
        except _Taken:
            outcomes[name] = "taken"
        except RuntimeError:
            outcomes[name] = "refused"

    _then(unit, "early", *_first_then_bad(store, unit, entered, release, inside))
    assert outcomes == {"first": "ok", "bad": "taken", "early": "refused"}
    assert ledger.balance("customer:a", "XEM") == 1000 - 1
    with store.reader() as tx:
        assert tx.known_keys(["first", "bad"]) == {"first"}
    assert ledger.verify().ok


def _handing_on(store: SqlStore, ledger: Ledger, name: str, seen: dict[str, list[str]],
                then: Callable[[], None] = lambda: None) -> None:
    """A unit that pays ``name``, notes the names handed on to it, hands them on with its
    own, then runs ``then`` inside the unit."""
    with store.unit() as u:
        _spend(ledger, name)
        before = u.handed_on.get(("names",), [])
        assert isinstance(before, list)
        seen[name] = before
        u.handed_on[("names",)] = [*before, name]
        then()


def test_what_a_unit_hands_on_reaches_the_later_units_of_its_batch_alone(
        ledger: Ledger, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Unit.handed_on``: what one request's unit leaves there is seen by the later units
    of the same transaction (their own request's reads are then one fewer), in their order,
    and by no unit of another batch."""
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)
    _fund(ledger, 1000)
    seen: dict[str, list[str]] = {}
    release = threading.Event()
    first = threading.Thread(target=_handing_on, args=(
        store, ledger, "first", seen, lambda: (_queued(store, 2), release.set())))
    first.start()
    later = [threading.Thread(target=_handing_on, args=(store, ledger, name, seen))
             for name in ("b", "c")]
    for t in later:
        t.start()
    for t in (first, *later):
        t.join(60)
    assert seen["first"] == []
    assert sorted(map(tuple, (seen["b"], seen["c"]))) in (
        [("first",), ("first", "b")], [("first",), ("first", "c")]), seen
    _handing_on(store, ledger, "next", seen)  # a batch of its own
    assert seen["next"] == []
    assert ledger.verify().ok


def test_what_an_undone_unit_handed_on_is_not_seen(ledger: Ledger, store: SqlStore,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit undone after it handed something on (alone, in its savepoint: the batch goes
    on) takes it with it, and so does a part of a unit undone in its own savepoint."""
    monkeypatch.setattr(_GroupCommit, "MAX_OPEN", 60.0)
    _fund(ledger, 1000)
    seen: dict[str, list[str]] = {}
    entered, release, inside = threading.Event(), threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def unit(name: str) -> None:
        def wait() -> None:
            if name == "first":
                entered.set()
                release.wait(timeout=60)
            elif name == "bad":
                inside.set()
                _queued(store, 1)  # "after" queues behind it: the batch goes on
                raise _Taken("refused after handing on")

        try:
            _handing_on(store, ledger, name, seen, wait)
            outcomes[name] = "ok"
        except _Taken:
            outcomes[name] = "undone"

    _then(unit, "after", *_first_then_bad(store, unit, entered, release, inside))
    assert outcomes == {"first": "ok", "bad": "undone", "after": "ok"}
    assert seen["bad"] == ["first"]
    assert seen["after"] == []  # "first"'s went with "bad"'s: nothing is kept of it
    with store.unit() as u:
        with pytest.raises(_Taken), u.savepoint():
            u.handed_on[("names",)] = ["part"]
            raise _Taken("the part is undone")
        assert ("names",) not in u.handed_on
    with store.reader() as tx:
        assert tx.known_keys(["first", "bad", "after"]) == {"first", "after"}
