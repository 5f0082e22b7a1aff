"""The SQL store: one implementation of the ``Store`` port for SQLite and PostgreSQL.

A use case runs in one **unit of work** (:meth:`SqlStore.unit`): one connection, one
transaction, and every table group on it (the ledger, screening, custody, deposits, access
and audit, the watch), so what a request writes commits together or not at all::

    with store.unit() as u:                      # write=True: serialised with every writer
        if u.screening.withdrawal("W-1") is None:
            ...                                  # hold, withdrawal row, proposal, audit
                                                 # all commit here, or none of them

Units are re-entrant within one thread (a context variable remembers the open unit of each
store): ``store.unit()``, ``writer()``, ``screening()``, ``custody()`` ... opened while a unit
of the same store is open *join* it instead of opening a second transaction, so services
compose without passing the unit around. A read opened inside a write unit joins it (and
sees its writes); a write inside a read unit is a programming error (:class:`UnitError`).
A joined block that raises leaves the unit to roll back; code that catches an error and goes
on in the same unit wraps the attempt in :meth:`SqlUnit.savepoint`.

Writes are serialised, because each journal entry carries its predecessor's hash: SQLite
opens write transactions with ``BEGIN IMMEDIATE`` (one writer, WAL, readers never blocked;
the threads of one process queue on a lock first), PostgreSQL locks the single
``ledger_head`` row ``FOR UPDATE`` as the unit's first statement. Everything a write unit
reads, it reads after that lock: a balance check and the write it guards, or an idempotency
check and the record it guards, can never interleave with another writer, in threads or in
separate processes, so a retry racing its first attempt waits for it and finds its answer.

Library errors are translated here: an unreachable or uninitialised database becomes
:class:`~kinko.errors.StoreUnavailable` (exit 3), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import cache
from itertools import chain
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, create_engine, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

from kinko.domain.custody import Multisig, Wallet
from kinko.domain.ledger import (
    BalanceKey,
    BalanceState,
    Entry,
    Hold,
    Posting,
    SealedTransfers,
    StateValues,
    entry_deltas,
)
from kinko.domain.messages import msg
from kinko.domain.money import Asset
from kinko.errors import HoldError, IdempotencyConflict, StoredValueInvalid, StoreUnavailable
from kinko.ports import BalanceRow, ReadAhead, UnitError, WouldBlock
from kinko.store import schema as s
from kinko.store.access_sql import AUDIT_HEAD, SqlAccess, audit_head
from kinko.store.custody_sql import SqlCustody, SqlDeposits
from kinko.store.driver import (
    Cursor,
    Earlier,
    begin,
    defer,
    failed,
    finish,
    flush,
    forget,
    lost,
    owned,
    plain_arrays,
    run,
    run_all,
    watched,
    withdraw,
)
from kinko.store.screening_sql import SqlScreening
from kinko.store.stamps import untouched
from kinko.store.values import (
    from_us,
    missing_row,
    missing_sqlite_file,
    normalise_url,
    redact,
    stored_int,
    stored_text,
    stored_time,
    to_us,
    unreadable,
)
from kinko.store.wal import LogCopier
from kinko.store.watch_sql import SqlWatch

__all__ = ["SqlStore", "SqlUnit", "UnitError", "open_store", "require_existing"]

T = TypeVar("T")
_US = timedelta(microseconds=1)
_CHUNK = 900  # bound parameters per IN (...) query
# rows per multi-row INSERT on SQLite, the most first (as many bound parameters as the
# library allows: 999 before SQLite 3.32, 32,766 since); a statement of many rows costs
# SQLite less work per row (a raw trial, two postings an entry: 4.5 µs of CPU an entry at
# 100 rows a statement, 3.9 at 400, 3.7 at 1,000)
_ROWS_PER_INSERT = (1000, 100, 10)
_NEVER = 2**62  # µs: no pending hold expires
# the earliest expiry of a pending hold (NULL: none), as the first row of the holds'
# (state, expiry) index: a min() over the pending holds may be planned as a read of every one
# of them (PostgreSQL, with statistics from while the table was small), under the writers' lock
FIRST_EXPIRY = ("SELECT expires_us FROM holds WHERE state = 'pending' AND expires_us IS NOT "
                "NULL ORDER BY expires_us LIMIT 1")
_FORWARD = 20_000  # postings a cached sum is brought forward by at most (else summed afresh)
# connections a process keeps open by default (setting database_pool): as many as a
# server's concurrent requests read on at once (each request's reads before the writers'
# lock hold one, a batch of writers one), so that a busy server does not open and close a
# connection per request above the pool's size (on PostgreSQL a new server process each);
# _OVERFLOW more are opened, and closed again, when needed
POOL = 16
_OVERFLOW = 10
PING_AFTER = 1.0  # seconds a PostgreSQL connection sat in the pool before it is pinged


class _BigSum:
    """SQLite aggregate: exact sum of integers stored as text (SQLite's SUM would use float)."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += int(value)

    def finalize(self) -> str:
        return str(self.total)


_BUSY_MS = 60_000  # how long a SQLite writer waits for another's write lock
# how long work on the event loop waits for the ledger head's row lock that another
# process's batch holds (PostgreSQL), holding the loop meanwhile, before it is handed to a
# worker thread to wait there: about one batch of another worker of ``kinko serve``
_LOOP_LOCK_WAIT_MS = 100


def _sqlite_engine(url: str, synchronous: str, pool: int, copies_log: bool = False
                   ) -> Engine:
    """``copies_log``: the store copies the log into the database itself (``wal``), so
    no commit on its connections does."""
    parsed = make_url(url)
    memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    if memory:
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=pool, max_overflow=_OVERFLOW)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
        cur.execute("PRAGMA foreign_keys=ON")
        if copies_log and not memory:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()
        dbapi_conn.create_aggregate("kinko_sum", 1, _BigSum)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("kinko_write"):
            run(conn, "BEGIN IMMEDIATE")
        elif not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            run(conn, "BEGIN DEFERRED")  # (else a read unit's, begun by the driver)

    return engine


def _postgres_engine(url: str, pool: int) -> Engine:
    """Connections whose cursors send deferred statements with the next one
    (:func:`~kinko.store.driver.defer`), a transaction's ``BEGIN`` too
    (:func:`~kinko.store.driver.begin`); one taken from the pool after it sat unused for
    ``PING_AFTER`` seconds is pinged first (the server may have restarted, or dropped it,
    meanwhile), and made again if it does not answer. One in steady use is not: if the
    server went away meanwhile its next statement fails, the pool's every connection is
    made again, a batch of writers that had not begun retries on a new one, and a unit
    under way fails as ``StoreUnavailable`` (503)."""
    engine = create_engine(url, pool_size=pool, max_overflow=_OVERFLOW,
                           connect_args={"cursor_factory": Cursor})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        plain_arrays(dbapi_conn)  # list parameters written as array literals, at once

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            begin(conn)  # sent with the transaction's first statement, in its round trip

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        put_back = record.info.get("kinko_in")  # None: a new connection
        if dbapi_conn.broken or dbapi_conn.closed or (
                put_back is not None and time.monotonic() - put_back > PING_AFTER
                and not _pings(engine, dbapi_conn)):
            raise DisconnectionError("the connection was lost while it sat in the pool")

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, record: Any) -> None:
        record.info["kinko_in"] = time.monotonic()
        if dbapi_conn is not None:
            forget(dbapi_conn)

    return engine


@contextmanager
def _driver_read(conn: Connection) -> Iterator[None]:
    """SQLite's read unit: its BEGIN and its COMMIT (or ROLLBACK) sent through the driver,
    without SQLAlchemy's transaction objects and events (about half of what an empty read
    unit cost). A statement sent through SQLAlchemy inside it joins the same transaction
    (``_on_begin`` sends no second BEGIN), and its end is the driver's, as here."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    run(conn, "BEGIN DEFERRED")
    try:
        yield
    except BaseException:
        with suppress(Exception):  # a connection gone is as good as rolled back
            (conn.rollback if conn.in_transaction() else dbapi.rollback)()
        raise
    try:
        (conn.commit if conn.in_transaction() else dbapi.commit)()
    except sqlite3.Error as exc:
        conn._handle_dbapi_exception(exc, "COMMIT", (), None, None)
        raise  # not reached: the handling above raises


def _pings(engine: Engine, dbapi_conn: Any) -> bool:
    try:
        return bool(engine.dialect.do_ping(dbapi_conn))
    except Exception:
        return False


def open_store(url: str, *, sqlite_synchronous: str = "FULL", pool: int = POOL) -> SqlStore:
    """Open (not create) the store at ``url``, keeping ``pool`` connections open; see
    :func:`kinko.store.migrate.upgrade`."""
    url = normalise_url(url)
    try:
        dialect = make_url(url).get_backend_name()
    except Exception:
        # neither the URL nor the parser's words (which may quote part of it): either may
        # carry a password
        raise StoreUnavailable("the database URL is not valid (expected "
                               "sqlite:///PATH or postgresql://USER@HOST/NAME)",
                               says=msg("error.store.url_invalid")) from None
    # a request's unit of work may run on the event loop (``on_loop``): on PostgreSQL
    # (its commits, which wait for the disk, are made off the loop) and on SQLite with a
    # commit that does not wait for the disk (a FULL commit's fsync would hold the loop)
    loop_writes = dialect == "postgresql" or (
        dialect == "sqlite" and sqlite_synchronous.upper() in ("NORMAL", "OFF"))
    if dialect == "sqlite":
        engine = _sqlite_engine(url, sqlite_synchronous, pool, copies_log=loop_writes)
    elif dialect == "postgresql":
        engine = _postgres_engine(url, pool)
    else:
        raise StoreUnavailable(
            f"unsupported database {dialect!r} in {redact(url)}: use sqlite:/// or postgresql://",
            says=msg("error.store.dialect", dialect=dialect[:40], url=redact(url)[:200]))
    return SqlStore(engine, loop_writes=loop_writes)


def require_existing(url: str) -> None:
    """Refuse an SQLite URL whose file is not there as a database not initialised, before
    anything opens it: opening creates the file, and a command run in the wrong folder
    left an empty database behind it."""
    if not missing_sqlite_file(url):
        return  # another database, or one open_store says what is wrong with
    raise StoreUnavailable(
        f"the database at {redact(url)} is not initialised: run `kinko init`",
        says=msg("error.store.not_initialised", url=redact(url)[:200]))


def _unavailable(engine: Engine, exc: Exception) -> StoreUnavailable:
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else repr(exc)
    if "no such table" in reason or ("does not exist" in reason and "relation" in reason):
        return StoreUnavailable(
            f"the database at {redact(str(engine.url))} is not initialised: run `kinko init`",
            reason=reason,
            says=msg("error.store.not_initialised", url=redact(str(engine.url))[:200]),
        )
    return StoreUnavailable(
        f"database at {redact(str(engine.url))} is unavailable: {reason}", reason=reason,
        says=msg("error.store.unavailable", url=redact(str(engine.url))[:200],
                 reason=reason[:200]),
    )


def _nothing() -> None:
    pass


def _undone_with_earlier() -> StoreUnavailable:
    return StoreUnavailable("the unit of work was undone with an earlier one of its batch, "
                            "whose write failed: nothing of it was written; it may be tried "
                            "again", says=msg("error.store.undone_with_earlier"))


# per thread (and per asyncio task): the open unit of each store, by the store's id
# (an immutable mapping: each unit sets a new one, and resets it when it ends)
_OPEN: ContextVar[Mapping[int, SqlUnit]] = ContextVar(
    "kinko_open_units", default=MappingProxyType({}))


# per request (``SqlStore.one_request``): the stamps read for it, by the store's id, with
# when they were read; a mutable holder, so that the threads a request runs on share it
_REQUEST: ContextVar[dict[int, tuple[float, dict[str, int]]] | None] = ContextVar(
    "kinko_request_stamps", default=None)
_REQUEST_STAMPS_FOR = 1.0  # seconds: a context that outlives its request reads them again
_STAMPS = "SELECT name, n FROM stamps"
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: a lock not taken within lock_timeout

# inside ``SqlStore.loop_only``: what would read the database raises WouldBlock instead
_LOOP_ONLY: ContextVar[bool] = ContextVar("kinko_loop_only", default=False)


class _LoopWrites:
    """Work that writes on the event loop (``SqlStore.on_loop``): the batch its write
    units went through in, committed later on the loop, and whether one did."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.batch: _Batch | None = None
        self.wrote = False  # a write unit began: WouldBlock can no longer hand it on


# inside ``SqlStore.on_loop``: the work's writes
_LOOP_WRITES: ContextVar[_LoopWrites | None] = ContextVar("kinko_loop_writes", default=None)


class SqlUnit:
    """One open transaction and every table group on it (see the module docstring).

    The table views are made on first use; they hold nothing but the connection (the
    ledger view keeps the holds it has read, which never change once written)."""

    def __init__(self, conn: Connection, dialect: str, write: bool,
                 sums: _SumCache | None, head: tuple[int, str] | None = None,
                 audit: tuple[int, str] | None = None, expiry: int | None = None,
                 stamps: dict[str, int] | None = None,
                 handed_on: dict[tuple[str, ...], object] | None = None) -> None:
        self.conn = conn
        # a write unit's: its batch's (see _Batch.handed_on)
        self.handed_on: dict[tuple[str, ...], object] = {} if handed_on is None else handed_on
        self._audit = audit  # the audit head its batch carried (None: unknown)
        self.dialect = dialect
        self.write = write
        self.dirty = False  # wrote to a stamped table (see touch)
        self.undone: Callable[[], None] = _nothing  # the store's: forget what was cached
        # the stamps its batch carried (None: read them; see _Batch.stamps)
        self._stamps: dict[str, int] | None = stamps
        # a write unit's head may roll back: only read units serve the shared sum cache
        self._ledger = SqlLedger(conn, dialect, None if write else sums, touch=self.touch,
                                 head=head, expiry=expiry)
        self._screening: SqlScreening | None = None
        self._custody: SqlCustody | None = None
        self._deposits: SqlDeposits | None = None
        self._access: SqlAccess | None = None
        self._watch: SqlWatch | None = None

    @property
    def ledger(self) -> SqlLedger:
        return self._ledger

    @property
    def screening(self) -> SqlScreening:
        if self._screening is None:
            self._screening = SqlScreening(self.conn, touch=self.touch)
        return self._screening

    @property
    def custody(self) -> SqlCustody:
        if self._custody is None:
            self._custody = SqlCustody(self.conn, touch=self.touch)
        return self._custody

    @property
    def deposits(self) -> SqlDeposits:
        if self._deposits is None:
            self._deposits = SqlDeposits(self.conn)
        return self._deposits

    @property
    def access(self) -> SqlAccess:
        if self._access is None:
            self._access = SqlAccess(self.conn, touch=self.touch, head=self._audit,
                                     carry=self.write)
        return self._access

    def audit_head(self) -> tuple[int, str] | None:
        """The audit head as this write unit left it, if known (carried to the next unit of
        its batch)."""
        return self._audit if self._access is None else self._access.head

    @property
    def watch(self) -> SqlWatch:
        if self._watch is None:
            self._watch = SqlWatch(self.conn, touch=self.touch)
        return self._watch

    def touch(self, table: str) -> None:
        """A stamped table is written in this unit: its stamp is read again, and what this
        process cached is forgotten if the unit does not commit (see SqlStore.cached)."""
        self.dirty = True
        self._stamps = None

    def carried_stamps(self) -> dict[str, int] | None:
        """The stamps as this unit left them, if it read them and wrote no stamped table
        since (carried to the next unit of its batch)."""
        return self._stamps

    def stamps(self) -> dict[str, int]:
        """The stamps as this unit sees them (read once, again after a touch)."""
        if self._stamps is None:
            self._stamps = dict(run(self.conn, _STAMPS).all())
        return self._stamps

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the unit that is undone alone when it raises (the error propagates;
        the caller may catch it and go on with the rest of the unit)."""
        try:
            with self.conn.begin_nested():
                yield
                flush(self.conn)  # what the part deferred fails here, inside it
        except BaseException as exc:
            self.handed_on.clear()  # what the part handed on is undone with it
            self._ledger._head = None  # an append may be undone: read the head again
            self._ledger._pre = None
            self._ledger.expiry = None
            if self._access is not None:
                self._access.head = None  # so may an audit record
            if self.dirty:  # what was cached from the undone writes is forgotten
                self._stamps = None
                self.undone()
            if not isinstance(exc, OperationalError | ProgrammingError) or isinstance(
                    exc, IntegrityError):
                raise
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise StoreUnavailable(f"the database failed inside a unit of work: {reason}",
                                   says=msg("error.store.failed_in_unit",
                                            reason=reason[:200])) from None


class _Through:
    """A write unit that went through with its last writes still held on the batch's
    connection (PostgreSQL: they travel with the next unit's first statement, in its round
    trip, instead of one of their own under the writers' lock): its savepoint, what the
    batch carried before it (restored if it is undone), and its error if a held write of
    its own, or of a unit before it, fails there."""

    __slots__ = ("before", "dirty", "error", "savepoint")

    def __init__(self, savepoint: str, before: tuple[Any, ...], dirty: bool) -> None:
        self.savepoint = savepoint
        self.before = before
        self.dirty = dirty
        self.error: BaseException | None = None


class _Batch:
    """One transaction shared by the write units of several requests (group commit)."""

    def __init__(self, conn: Connection, head: tuple[int, str]) -> None:
        self.conn = conn
        self.head = head  # the ledger head after the last unit that went through
        self.audit: tuple[int, str] | None = None  # the audit head, once a unit read it
        self.expiry: int | None = None  # no pending hold expires before (SqlLedger.expiry)
        # the stamps as the last unit that went through left them: while the batch holds
        # the writers' lock only its own units write (and their writes move what they
        # touch: read again), so the next unit need not read them again
        self.stamps: dict[str, int] | None = None
        self.opened = time.monotonic()
        self.units = 0  # units that went through (released their savepoint)
        self.failed = 0  # units undone alone (rolled back to their savepoint)
        self.dirty = False  # one of them wrote a stamped table
        self.broken: BaseException | None = None  # the connection failed: no commit
        self.spoiled = False  # its first unit (run without a savepoint) failed: roll it back
        self.error: StoreUnavailable | None = None  # the commit failed: nothing is written
        self.done = threading.Event()
        # units that went through on the event loop (``SqlStore.on_loop``) wait for the
        # commit on this future of their loop; what they asked to run once it is durable
        self.loop: asyncio.AbstractEventLoop | None = None
        self.settled: asyncio.Future[None] | None = None
        self.after: list[Callable[[], None]] = []
        self.after_lock = threading.Lock()
        self.commit_due = False  # the loop's commit is scheduled
        self.through: list[_Through] = []  # units gone through with writes held, in order
        # what a unit hands on to the later units (``Unit.handed_on``): emptied when a unit
        # is undone, so that nothing of writes that were undone is handed on
        self.handed_on: dict[tuple[str, ...], object] = {}

    def carried(self) -> tuple[Any, ...]:
        """What the batch carries from unit to unit (see ``_Through``)."""
        return (self.head, self.audit, self.expiry, self.stamps, self.dirty)

    def settle(self) -> None:
        """The batch committed or failed: the units waiting on the loop are told (from any
        thread), and on success what they asked to run once durable runs."""
        with self.after_lock:
            after, self.after = self.after, []
        if self.error is None:
            for then in after:
                with suppress(Exception):  # they keep a process's caches, nothing more
                    then()
        fut, loop = self.settled, self.loop
        if fut is None or loop is None:
            return
        error = self.error

        def tell() -> None:
            if not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            tell()
        else:
            with suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(tell)


class _GroupCommit:
    """The writers of one process, one after the other in shared transactions.

    A write unit waits for its turn, runs inside the open batch's transaction in a savepoint
    of its own (a unit that raises is undone alone; the batch's first unit needs none: if it
    raises, the batch, its alone, is rolled back and closed), and hands the turn to the next
    waiting unit (on PostgreSQL with its last writes still held, sent with that unit's first
    statement: ``_Through``); the unit that finds nobody waiting (or the batch full, or open
    for too long) commits the batch. Every unit of the batch returns only once that commit
    is durable, and every one of them fails (nothing written) if it is not. Writers of
    other processes queue on the database's own lock (SQLite's write lock, PostgreSQL's
    ``ledger_head`` row), which a batch holds from its first statement to its commit."""

    MAX_UNITS = 256
    # PostgreSQL: each unit after a batch's first is a subtransaction (its savepoint); past
    # 64 in one transaction a server process's cache of them overflows, and every other
    # session's snapshot then looks them up on disk until the batch ends
    MAX_UNITS_POSTGRES = 64
    MAX_OPEN = 0.05  # seconds a batch stays open for more units

    def __init__(self, max_units: int = MAX_UNITS) -> None:
        self.max_units = max_units  # units a batch takes, those undone alone included
        self.turn = threading.Lock()
        self.waiting = 0  # units wanting the turn (counted under ``count``)
        self.count = threading.Lock()
        self.batch: _Batch | None = None
        self.batches = self.units = self.largest = 0  # what the batches reached
        self.on_loop = 0  # units that went through on the event loop (``SqlStore.on_loop``)

    def wait_turn(self) -> None:
        with self.count:
            self.waiting += 1
        try:
            self.turn.acquire()
        finally:
            with self.count:
                self.waiting -= 1

    def commit_now(self, batch: _Batch) -> bool:
        return batch.broken is not None or not self.waiting or self.full(batch)

    def full(self, batch: _Batch) -> bool:
        """The batch takes no more units: as many as it may, or open for long enough."""
        return (batch.units + batch.failed >= self.max_units
                or time.monotonic() - batch.opened > self.MAX_OPEN)


class _Caches:
    """What a process keeps of the read-mostly tables (``stamps.STAMPED``), each value with
    the stamp it was read at; ``epoch`` moves when a unit that wrote a stamped table is
    undone, so nothing read from writes that never committed is served again."""

    def __init__(self) -> None:
        self.epoch = 0
        self.values: dict[tuple[str, str], tuple[tuple[int, int, int], Any]] = {}

    def undone(self) -> None:
        self.epoch += 1


class _StampReader:
    """The stamps read outside any unit of work: a few connections of its own in
    autocommit (each read sees what is committed), not a transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.idle: list[Any] = []
        self.local = threading.local()  # read_now's connection, per thread
        # read_now's connections, with the thread each belongs to: a thread that ended
        # (a test client's or a portal's event loop thread) leaves its own to be closed
        self.loop_conns: list[tuple[threading.Thread, Any]] = []
        self.generation = 0  # moves when close() closed them
        # an in-memory SQLite database exists on one connection only: read it in a unit
        self.own = engine.dialect.name == "postgresql" or make_url(
            str(engine.url)).database not in (None, "", ":memory:")

    def read(self) -> dict[str, int]:
        with self.lock:
            conn = self.idle.pop() if self.idle else None
        try:
            if conn is None:
                fairy = self.engine.raw_connection()
                fairy.detach()  # this reader's own, not the pool's
                conn = fairy.dbapi_connection
                assert conn is not None
                if self.engine.dialect.name == "postgresql":
                    conn.autocommit = True
            cur = conn.cursor()
            cur.execute("SELECT name, n FROM stamps")
            rows = dict(cur.fetchall())
            cur.close()
        except Exception as exc:
            if conn is not None:
                conn.close()
            raise _unavailable(self.engine, exc) from None
        with self.lock:
            if len(self.idle) < 8:
                self.idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()
        return rows

    def read_now(self) -> dict[str, int]:
        """SQLite: the stamps read at once on this thread's own connection, which never
        waits for a lock (WouldBlock instead): a read in WAL mode takes microseconds and
        waits only while another connection holds the database exclusively or recovers
        its log."""
        held = getattr(self.local, "conn", None)  # (generation, connection)
        conn = held[1] if held is not None and held[0] == self.generation else None
        try:
            if conn is None:
                args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
                given: dict[str, Any] = {**kwargs, "timeout": 0, "isolation_level": None,
                                         "check_same_thread": False}
                conn = sqlite3.connect(args[0], **given)
                self.local.conn = (self.generation, conn)
                with self.lock:
                    ended = [c for t, c in self.loop_conns if not t.is_alive()]
                    self.loop_conns = [(t, c) for t, c in self.loop_conns if t.is_alive()]
                    self.loop_conns.append((threading.current_thread(), conn))
                for old in ended:
                    old.close()
            return dict(conn.execute("SELECT name, n FROM stamps").fetchall())
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (5, 6):  # BUSY, LOCKED
                raise WouldBlock("the database is locked: the stamps are read in a thread"
                                 ) from None
            self.local.conn = None
            if conn is not None:
                with self.lock:
                    self.loop_conns = [(t, c) for t, c in self.loop_conns if c is not conn]
                conn.close()
            raise _unavailable(self.engine, exc) from None

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
            idle += [c for _, c in self.loop_conns]
            self.loop_conns = []
            self.generation += 1
        for conn in idle:
            conn.close()


class _SharedRead:
    """The stamps read for the requests of one event loop without holding it up (``read``
    waits on a socket or a worker thread, not on the loop), one read at a time. A request
    that asks while a read runs waits for the next one, which begins as that one ends and
    answers every request that asked in the meantime: each request is answered by a read
    that began after it asked, so it sees what any process had committed before it arrived
    (a key revoked, a breaker tripped), and a busy server reads once for many requests."""

    def __init__(self, read: Callable[[], Awaitable[dict[str, int]]]) -> None:
        self.read = read
        self.running: asyncio.Task[None] | None = None
        self.waiting: asyncio.Future[dict[str, int]] | None = None  # for the next read

    async def stamps(self) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        if self.waiting is None:
            self.waiting = loop.create_future()
            # a request that gave up must not leave an error nobody retrieves
            self.waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
        answer = self.waiting
        if self.running is None:
            self._start(loop)
        return await asyncio.shield(answer)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.running = loop.create_task(self._run(loop))

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        # the read begins here: it answers every request that asked before (those of the
        # same turn of the loop as the first one too)
        answer, self.waiting = self.waiting, None
        assert answer is not None
        try:
            answer.set_result(await self.read())
        except asyncio.CancelledError:
            answer.cancel()
            raise
        except Exception as exc:
            answer.set_exception(exc)
        finally:
            self.running = None
            if self.waiting is not None and not loop.is_closed():
                self._start(loop)


class _AsyncStamps:
    """PostgreSQL: the stamps read on a connection of the event loop's own (psycopg's
    asyncio side, in autocommit: each read sees what is committed), connected on first
    use and again after a failure."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Any = None

    async def read(self) -> dict[str, int]:
        import psycopg

        for attempt in (1, 2):  # a connection the server dropped is made again once
            try:
                if self.conn is None:
                    args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
                    self.conn = await psycopg.AsyncConnection.connect(
                        *args, **kwargs, autocommit=True)
                cur = await self.conn.execute("SELECT name, n FROM stamps")
                return {str(name): int(n) for name, n in await cur.fetchall()}
            except psycopg.Error as exc:
                self.close()
                if attempt == 2 or isinstance(exc, psycopg.ProgrammingError):
                    raise _unavailable(self.engine, exc) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the socket (from any thread: the loop may be gone)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.pgconn.finish()


class SqlStore:
    """The ``Store`` port on SQLAlchemy Core."""

    def __init__(self, engine: Engine, *, loop_writes: bool = False) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # the batches left open on the loop are committed in this thread, off the loop; the
        # commit in flight there, with its loop (the loop's next units wait for it)
        self._committer: ThreadPoolExecutor | None = None
        self._in_flight: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._group = _GroupCommit(_GroupCommit.MAX_UNITS_POSTGRES
                                   if self.dialect == "postgresql" else _GroupCommit.MAX_UNITS)
        self._sums = _SumCache()
        self._caches = _Caches()
        self._stamp_reader = _StampReader(engine)
        # ``on_loop`` may run work on the event loop (not on an in-memory database: it
        # lives on one connection)
        self._loop_writes = loop_writes and self._stamp_reader.own
        # such a store's connections leave SQLite's log to it (``wal``)
        self._log = LogCopier(engine) if self._loop_writes and self.dialect == "sqlite" \
            else None
        # each event loop's shared read, and on PostgreSQL its connection: a loop that
        # closed (a test client's, one per request) has its connection closed when the
        # next loop comes
        self._shared: dict[asyncio.AbstractEventLoop,
                           tuple[_SharedRead, _AsyncStamps | None]] = {}
        self._shared_lock = threading.Lock()

    def close(self) -> None:
        if self._committer is not None:
            self._committer.shutdown(wait=True)
        self._stamp_reader.close()
        with self._shared_lock:
            readers, self._shared = [r for _, r in self._shared.values()], {}
        for reader in readers:
            if reader is not None:
                reader.close()
        self.engine.dispose()

    def shared_by_processes(self) -> None:
        """This process is one of several serving the same database at once (``kinko serve
        --workers N``): on PostgreSQL its work stays off the event loop (``on_loop``),
        where the loop would wait for the other processes' batches to release the ledger
        head and gather fewer units into its own (measured: fewer requests served than
        from worker threads, whose units queue for the lock while the loop reads on)."""
        if self.dialect == "postgresql":
            self._loop_writes = False

    def current(self) -> SqlUnit | None:
        """The unit of work open in this thread (or task) on this store, if any."""
        return _OPEN.get().get(id(self))

    def group_commit(self) -> dict[str, int]:
        """What group commit reached so far: batches committed, units in them, the
        largest batch, and the units that went through on the event loop."""
        g = self._group
        return {"batches": g.batches, "units": g.units, "largest": g.largest,
                "on_loop": g.on_loop}

    # ------------------------------------------------------------------ caches

    def stamps(self) -> dict[str, int]:
        """Every stamped table's stamp: in the open unit (as it sees them), else as
        committed now."""
        unit = self.current()
        if unit is not None:
            return unit.stamps()
        held = _REQUEST.get()
        if held is not None:
            got = held.get(id(self))
            if got is not None and time.monotonic() - got[0] < _REQUEST_STAMPS_FOR:
                return got[1]
        if _LOOP_ONLY.get():
            raise WouldBlock("the stamps are not read for this request yet")
        read = self._read_stamps()
        if held is not None:
            held[id(self)] = (time.monotonic(), read)
        return read

    def _read_stamps(self) -> dict[str, int]:
        """The stamps as committed now."""
        if self._stamp_reader.own:
            return self._stamp_reader.read()
        with self.unit(write=False) as u:
            return dict(u.stamps())

    async def request_stamps(self) -> None:
        """The stamps of the request in progress (:meth:`one_request`), read without
        holding up the event loop (by a read that began after this call, which may answer
        other requests waiting at the same time: :class:`_SharedRead`)."""
        held = _REQUEST.get()
        if held is None or self.current() is not None:
            return  # outside a request, or inside a unit: stamps() reads them as it must
        if self.dialect == "sqlite" and self._stamp_reader.own:
            with suppress(WouldBlock):
                held[id(self)] = (time.monotonic(), self._stamp_reader.read_now())
                return
        held[id(self)] = (time.monotonic(), await self._shared_read().stamps())

    def _shared_read(self) -> _SharedRead:
        """This event loop's :class:`_SharedRead`."""
        loop = asyncio.get_running_loop()
        ended: list[_AsyncStamps | None] = []
        with self._shared_lock:
            held = self._shared.get(loop)
            if held is None:
                ended = [r for lp, (_, r) in self._shared.items() if lp.is_closed()]
                self._shared = {lp: v for lp, v in self._shared.items() if not lp.is_closed()}
                reader = _AsyncStamps(self.engine) if self.dialect == "postgresql" else None
                held = (_SharedRead(reader.read) if reader is not None else
                        _SharedRead(lambda: loop.run_in_executor(None, self._read_stamps)),
                        reader)
                self._shared[loop] = held
        for old in ended:
            if old is not None:
                old.close()
        return held[0]

    @contextmanager
    def loop_only(self) -> Iterator[None]:
        """Work on the event loop: what is cached for this request is served, and whatever
        would read the database (stamps not read yet, a cache to load again, a unit of
        work) raises :class:`~kinko.ports.WouldBlock` instead, for the caller to do the
        same work again in a worker thread. Run only work that changes nothing before it
        has read what it needs."""
        token = _LOOP_ONLY.set(True)
        try:
            yield
        finally:
            _LOOP_ONLY.reset(token)

    async def on_loop(self, work: Callable[[], T]) -> T:
        """``work``, which may write, done on the event loop, and its writes durable when
        this returns. A request's unit of work costs less here than handed to a worker
        thread and back: on SQLite a statement is a call into the library; on PostgreSQL it
        is a round trip that holds the loop, but the units of one process take turns on the
        writers' lock all the same, and the hand-offs between the loop and the threads cost
        more than the loop's wait (measured with the withdrawal requests of a server). Its
        write units join the open batch of the group commit as
        a worker thread's would; once a turn of the loop added no unit to the batch
        (``_loop_commit``) it is committed in a thread of its own, off the loop (the commit
        writes to disk), and this waits for that commit without holding the loop, so the
        units of the requests the loop runs meanwhile share it; work that comes while a
        commit is in flight (and the log's copy after it: ``wal``) waits for it, then begins
        the next batch.

        Raises :class:`~kinko.ports.WouldBlock` (before anything is written) where waiting
        would hold the loop: on SQLite whose commits wait for the disk (``synchronous=FULL``)
        or in memory, inside a unit, while a worker thread's unit has the writers' turn (or
        the committing thread copies the log after a commit of another event loop's: this
        loop's own it waits for), while another process holds SQLite's write lock, or holds
        PostgreSQL's ledger head row for longer than about one batch of another worker
        (``_LOOP_LOCK_WAIT_MS``); the caller then runs the same work in a worker thread."""
        if not self._loop_writes or self.current() is not None:
            raise WouldBlock("this store's work runs in a worker thread")
        loop = asyncio.get_running_loop()
        while (flight := self._in_flight) is not None and flight[0] is loop:
            if flight[1].done():  # landed (its callback may not have run yet)
                self._in_flight = None
                break
            await asyncio.shield(flight[1])  # the last batch's commit: then ours
        writes = _LoopWrites(loop)
        token = _LOOP_WRITES.set(writes)
        try:
            out = work()
        except BaseException:
            _LOOP_WRITES.reset(token)
            with suppress(Exception):  # what went through is told by its commit
                await self._durable(writes)
            raise
        _LOOP_WRITES.reset(token)
        await self._durable(writes)
        return out

    @staticmethod
    async def _durable(writes: _LoopWrites) -> None:
        """Wait, without holding the loop, for the commit of the batch the work's write
        units went through in (its failure raises here)."""
        batch = writes.batch
        if batch is not None and batch.settled is not None:
            await asyncio.shield(batch.settled)

    def when_durable(self, then: Callable[[], None]) -> None:
        """Run ``then`` once what the work in progress wrote is durable: now, or, for work
        on the event loop (:meth:`on_loop`), when its batch commits; never if that commit
        fails."""
        writes = _LOOP_WRITES.get()
        batch = writes.batch if writes is not None else None
        if batch is not None:
            with batch.after_lock:
                if not batch.done.is_set():
                    batch.after.append(then)
                    return
            if batch.error is not None:
                return
        then()

    @contextmanager
    def one_request(self) -> Iterator[None]:
        """One request of a server: the stamps are read once for all of it (not once per
        cached table), and again after it wrote a stamped table, so that it sees its own
        change; the next request reads them again (a change by any process applies to it)."""
        token = _REQUEST.set({})
        try:
            yield
        finally:
            _REQUEST.reset(token)

    def _wrote_stamped(self) -> None:
        """A write unit that wrote a stamped table ended: the request reads the stamps
        again."""
        held = _REQUEST.get()
        if held is not None:
            held.pop(id(self), None)

    def cached(self, table: str, load: Callable[[SqlUnit], T], part: str = "") -> T:
        """What ``load`` reads from ``table`` (one of ``stamps.STAMPED``), read again only
        when the table changed since (in any process: its stamp moved), or another
        database answers at this URL; ``part`` keeps several values of one table apart.
        Inside a unit, as that unit sees the table (its own writes included)."""
        stamps = self.stamps()
        caches = self._caches
        key = (stamps["database"], stamps[table], caches.epoch)
        slot = caches.values.get((table, part))
        if slot is not None and slot[0] == key:
            value: T = slot[1]
            return value
        if _LOOP_ONLY.get():
            raise WouldBlock(f"{table} changed: it is read again in a worker thread")
        with self.unit(write=False) as u:
            value = load(u)
        caches.values[(table, part)] = (key, value)
        return value

    # ------------------------------------------------------------------ units

    @contextmanager
    def _connection(self, write: bool, snapshot: bool = True) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if not write and self.dialect == "sqlite" and not watched(conn):
                    if not snapshot:  # each statement alone, in SQLite's autocommit
                        yield conn
                        return
                    with _driver_read(conn):
                        yield conn
                    return
                if write:
                    conn.execution_options(kinko_write=True)
                elif self.dialect == "postgresql":
                    # one consistent snapshot for multi-statement reads such as verify;
                    # without: no transaction, each statement sees what is committed
                    conn.execution_options(
                        isolation_level="REPEATABLE READ" if snapshot else "AUTOCOMMIT")
                with conn.begin():
                    yield conn
        except (OperationalError, ProgrammingError) as exc:
            if isinstance(exc, IntegrityError):
                raise
            raise _unavailable(self.engine, exc) from None

    @contextmanager
    def unit(self, *, write: bool = True, snapshot: bool = True) -> Iterator[SqlUnit]:
        """One transaction over every table group; joins the unit already open in this
        thread, if any (see the module docstring). A write unit is committed with the
        others of its batch (group commit: see :class:`_GroupCommit`); it returns once
        that commit is durable. ``snapshot=False``: a read unit whose statements each
        stand alone (each sees what is committed as it runs, not one shared snapshot), for
        reads that are checked again under the writers' lock; it opens no transaction (no
        BEGIN, no COMMIT: on PostgreSQL a statement is one round trip, on SQLite one call)."""
        open_unit = self.current()
        if open_unit is None and _LOOP_ONLY.get():
            raise WouldBlock("a unit of work is opened in a worker thread, not on the loop")
        if open_unit is not None:
            if write and not open_unit.write:
                raise UnitError("a write was started inside a read unit of work: open the "
                                "outer unit with write=True")
            yield open_unit
            return
        if write:
            with self._write_unit() as unit:
                yield unit
            return
        with self._connection(False, snapshot) as conn:
            # the shared sums are kept only from reads of one snapshot
            unit = SqlUnit(conn, self.dialect, False, self._sums if snapshot else None)
            with self._opened(unit):
                yield unit

    @contextmanager
    def _opened(self, unit: SqlUnit) -> Iterator[None]:
        before = _OPEN.get()
        token = _OPEN.set(MappingProxyType({**before, id(self): unit}))
        try:
            yield
        finally:
            try:
                _OPEN.reset(token)
            except ValueError:  # closed from another context (a generator finished late)
                _OPEN.set(MappingProxyType({k: v for k, v in _OPEN.get().items()
                                            if k != id(self)}))

    def _open_batch(self, again: bool = True, *, wait: bool = True) -> _Batch:
        """A connection, its write transaction and the writers' lock: the ledger head row,
        read (and on PostgreSQL locked) as the first statement; then, as they are once that
        lock is held (only its holder writes them), the stamps and the audit head, which
        the batch carries from unit to unit (on PostgreSQL all three with the BEGIN, in
        one round trip). A connection the server dropped (found by that statement:
        nothing was done on it) is made again once."""
        try:
            conn = self.engine.connect()
        except (OperationalError, ProgrammingError) as exc:
            raise _unavailable(self.engine, exc) from None
        try:
            conn.execution_options(kinko_write=True)
            lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
            first: list[tuple[str, tuple[()]]] = []  # before the lock, and after it
            last: list[tuple[str, tuple[()]]] = []
            if not wait and lock:  # PostgreSQL, on the event loop: the lock within a bound
                conn.begin()
                first = [(f"SET LOCAL lock_timeout = {_LOOP_LOCK_WAIT_MS}", ())]
                last = [("SET LOCAL lock_timeout TO DEFAULT", ())]
            elif not wait:  # SQLite, on the event loop: its write lock is taken or refused
                # (on the driver: a statement through SQLAlchemy would begin a transaction)
                dbapi = conn.connection.dbapi_connection
                assert dbapi is not None
                dbapi.execute("PRAGMA busy_timeout=0")
                try:
                    conn.begin()
                except OperationalError as exc:
                    if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                        raise WouldBlock("another process holds SQLite's write lock") \
                            from None
                    raise
                finally:
                    dbapi.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            else:
                conn.begin()
            try:
                read = run_all(conn, [
                    *first, (f"SELECT seq, hash FROM ledger_head WHERE id = 1{lock}", ()),
                    (_STAMPS, ()), (AUDIT_HEAD, ()), *last])
                head, stamps, audit = read[len(first):len(first) + 3]
            except OperationalError as exc:
                if first and getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                    raise WouldBlock("another process holds the ledger head's lock") from None
                raise
            row = head.first()
            if row is None:
                raise StoreUnavailable("the ledger head row is missing: run `kinko init`",
                                       says=msg("error.store.no_ledger_head"))
            batch = _Batch(conn, (int(row[0]), str(row[1])))
            batch.stamps = dict(stamps.all())
            batch.audit = audit_head(audit.first())
            return batch
        except BaseException as exc:
            conn.close()
            if isinstance(exc, OperationalError | ProgrammingError) and not isinstance(
                    exc, IntegrityError):
                if again and exc.connection_invalidated:
                    return self._open_batch(again=False, wait=wait)
                raise _unavailable(self.engine, exc) from None
            raise

    @contextmanager
    def _write_unit(self) -> Iterator[SqlUnit]:
        group = self._group
        on_loop = _LOOP_WRITES.get()
        if on_loop is None:
            group.wait_turn()
        elif not group.turn.acquire(blocking=False):
            if not on_loop.wrote:  # a worker thread's unit has the turn: the work goes there
                raise WouldBlock("the writers' turn is held by a worker thread")
            group.wait_turn()
        try:
            batch = group.batch or self._open_batch(
                wait=on_loop is None or on_loop.wrote)
        except BaseException:
            group.turn.release()
            raise
        if on_loop is not None:
            on_loop.wrote = True
        group.batch = batch
        went_through = False
        through: _Through | None = None  # gone through with its writes held
        unit = SqlUnit(batch.conn, self.dialect, True, None, head=batch.head,
                       audit=batch.audit, expiry=batch.expiry, stamps=batch.stamps,
                       handed_on=batch.handed_on)
        unit.undone = self._caches.undone
        # the first unit of a batch needs no savepoint: if it fails, the batch's whole
        # transaction is its own, and is rolled back. The others' savepoints are sent with
        # their first statement and released with the next unit's (driver.defer): no
        # round trip of their own; and a unit that fails before its first statement has
        # nothing to undo
        savepoint = f"kinko_{batch.units + batch.failed}" if batch.units else None
        try:
            if savepoint is not None:
                defer(batch.conn, f"SAVEPOINT {savepoint}", droppable=True)
        except (OperationalError, ProgrammingError) as exc:
            batch.broken = exc
            self._leave(batch, False)
            raise _unavailable(self.engine, exc) from None
        before = batch.carried()
        try:
            with self._opened(unit):
                yield unit
                if savepoint is None or group.commit_now(batch):
                    flush(batch.conn)  # what the unit deferred fails here, as the unit's
                elif owned(batch.conn, mine := _Through(savepoint, before, unit.dirty)):
                    # the next unit waits: the writes go with its first statement (or the
                    # batch's commit); one that fails there is undone with its savepoint,
                    # and fails this unit (_undo_earlier)
                    batch.through.append(mine)
                    through = mine
                earlier = lost(batch.conn)  # caught inside the unit: it fails all the same
                if earlier is not None:
                    raise earlier
            try:
                if savepoint is not None:
                    defer(batch.conn, f"RELEASE SAVEPOINT {savepoint}", droppable=True)
            except (OperationalError, ProgrammingError) as exc:
                batch.broken = exc
                raise _unavailable(self.engine, exc) from None
            went_through = True
            batch.units += 1
            batch.head = unit.ledger.head()
            batch.audit = unit.audit_head()
            batch.expiry = unit.ledger.expiry
            batch.stamps = unit.carried_stamps()
            batch.dirty = batch.dirty or unit.dirty
        except BaseException as exc:
            batch.handed_on.clear()  # this unit is undone: what it handed on goes with it
            earlier = exc if isinstance(exc, Earlier) else lost(batch.conn)
            lost(batch.conn)
            if earlier is not None:
                # an earlier unit's held write failed with this unit's first statement:
                # undone from that unit on (this one had nothing of its own on the server)
                batch.failed += 1
                if batch.broken is None:
                    try:
                        self._undo_earlier(batch, earlier)
                    except Exception as failed_undo:  # the batch commits nothing
                        batch.broken = failed_undo
                if unit.dirty:
                    self._caches.undone()
                raise _undone_with_earlier() from None
            if not went_through and batch.broken is None:
                batch.failed += 1
                try:
                    if savepoint is None:
                        batch.spoiled = True  # undone with the batch's transaction
                    elif not withdraw(batch.conn, f"SAVEPOINT {savepoint}"):
                        run(batch.conn, f"ROLLBACK TO SAVEPOINT {savepoint}")
                        defer(batch.conn, f"RELEASE SAVEPOINT {savepoint}", droppable=True)
                except Exception as failed:  # not undone alone: the batch commits nothing
                    batch.broken = failed
            if unit.dirty:
                self._caches.undone()
            if isinstance(exc, OperationalError | ProgrammingError) and not isinstance(
                    exc, IntegrityError):
                raise _unavailable(self.engine, exc) from None
            raise
        finally:
            try:
                self._leave(batch, went_through, through)
            finally:
                if unit.dirty:
                    self._wrote_stamped()

    def _undo_earlier(self, batch: _Batch, earlier: Earlier) -> None:
        """A unit that went through with its writes held (``_Through``) had one fail when
        they were sent: the batch is rolled back to that unit's savepoint, which undoes it
        and every unit after it (built on what it wrote: none of them is committed on that
        premise); it fails with its write's error, the later ones as undone with it, and
        the batch carries on from what it carried before that unit."""
        failing = earlier.owner
        if not isinstance(failing, _Through) or failing not in batch.through:
            raise StoreUnavailable("a held write of the batch failed and could not be "
                                   "undone alone", says=msg("error.store.held_write_failed")
                                   ) from earlier.error
        undone = batch.through[batch.through.index(failing):]
        del batch.through[batch.through.index(failing):]
        forget(batch.conn.connection.dbapi_connection)  # all came after the failed write
        run(batch.conn, f"ROLLBACK TO SAVEPOINT {failing.savepoint}")
        defer(batch.conn, f"RELEASE SAVEPOINT {failing.savepoint}", droppable=True)
        error = earlier.error
        if isinstance(error, OperationalError | ProgrammingError) and not isinstance(
                error, IntegrityError):
            error = _unavailable(self.engine, error)
        failing.error = error
        for later in undone[1:]:
            later.error = _undone_with_earlier()
        batch.units -= len(undone)
        batch.failed += len(undone)
        batch.head, batch.audit, batch.expiry, batch.stamps, batch.dirty = failing.before
        if any(u.dirty for u in undone):
            self._caches.undone()

    def _leave(self, batch: _Batch, went_through: bool, through: _Through | None = None
               ) -> None:
        """Hand the turn to the next unit, or commit the batch; a unit that went through
        returns once the commit is durable (and raises if it failed)."""
        group = self._group
        if batch.spoiled:  # its first unit failed: nothing of it, or of any other, is kept
            group.batch = None
            try:
                with suppress(Exception):  # a connection gone is as good as rolled back
                    batch.conn.rollback()
            finally:
                batch.conn.close()
                group.turn.release()
                batch.done.set()
            return
        on_loop = _LOOP_WRITES.get()
        if on_loop is not None and batch.broken is None:
            # on the event loop: the batch stays open for the units the loop runs next, and
            # is committed once a turn of the loop added none (``_loop_commit``); the work
            # waits for that commit in ``on_loop``
            if went_through:
                on_loop.batch = batch
                group.on_loop += 1
                if batch.settled is None:
                    batch.loop = on_loop.loop
                    batch.settled = on_loop.loop.create_future()
                    # a request that gave up must not leave an error nobody retrieves
                    batch.settled.add_done_callback(lambda f: f.cancelled() or f.exception())
            if group.full(batch):
                self._commit_off_loop(batch, on_loop.loop)  # it releases the turn
            else:
                if not batch.commit_due:
                    batch.commit_due = True
                    on_loop.loop.call_soon(self._loop_commit, batch, -1)
                group.turn.release()
        elif group.commit_now(batch):
            self._commit(batch)
        else:
            group.turn.release()
            if went_through:
                batch.done.wait()
        if went_through and batch.error is not None:
            raise batch.error
        if through is not None and through.error is not None:
            raise through.error

    def _loop_commit(self, batch: _Batch, seen: int) -> None:
        """On the event loop: commit the batch its units left open, unless units joined it
        since the last look (and it is neither full nor open for too long: then look again
        on the loop's next turn) or a worker thread's unit holds the turn (it, or the unit
        after it, commits)."""
        group = self._group
        batch.commit_due = False
        if group.batch is not batch:
            return  # committed already, by a unit that found nobody waiting
        joined = batch.units + batch.failed
        if joined != seen and not group.full(batch):
            batch.commit_due = True
            asyncio.get_running_loop().call_soon(self._loop_commit, batch, joined)
            return
        if group.turn.acquire(blocking=False):
            self._commit_off_loop(batch, asyncio.get_running_loop())

    def _commit_off_loop(self, batch: _Batch, loop: asyncio.AbstractEventLoop) -> None:
        """With the turn held: commit the batch in the committing thread, which releases
        the turn; the loop's next work waits for it (``on_loop``)."""
        self._group.batch = None  # taking no more units
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="kinko-commit")
        flight = loop.run_in_executor(self._committer, self._commit, batch)
        self._in_flight = (loop, flight)

        def landed(_: object) -> None:
            if self._in_flight is not None and self._in_flight[1] is flight:
                self._in_flight = None

        flight.add_done_callback(landed)

    def _commit(self, batch: _Batch) -> None:
        """Commit the batch, with the turn held; release the turn and tell its units."""
        group = self._group
        group.batch = None
        # PostgreSQL: the next batch may begin while this one commits (its first
        # statement waits for the ledger head's row lock, which the commit releases), so
        # that its connection and BEGIN are not taken after the commit's fsync; SQLite's
        # next writer would wait in SQLite's sleeping busy handler instead
        early = self.dialect == "postgresql"
        if early:
            group.turn.release()
        try:
            if batch.broken is not None:
                raise batch.broken
            try:
                finish(batch.conn)
            except Earlier as earlier:  # a held write of a unit gone through failed
                lost(batch.conn)
                self._undo_earlier(batch, earlier)
                finish(batch.conn)
            if failed(batch.conn):
                # a statement failed and was not undone: the server would answer the
                # COMMIT with a rollback, and the driver raises nothing
                raise StoreUnavailable("a statement of the batch failed: nothing of it "
                                       "was committed",
                                       says=msg("error.store.batch_statement_failed"))
            batch.conn.commit()
        except BaseException as exc:
            reason = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
            batch.error = _unavailable(self.engine, reason)
            if batch.dirty:
                self._caches.undone()
            with suppress(Exception):  # the connection is gone: closing it is what is left
                batch.conn.rollback()
        finally:
            batch.conn.close()
            if batch.error is None:
                with group.count:
                    group.batches += 1
                    group.units += batch.units
                    group.largest = max(group.largest, batch.units)
            copier = self._log if batch.error is None and not early else None
            if not early and copier is None:
                group.turn.release()
            batch.done.set()
            batch.settle()
            if copier is not None:
                try:
                    copier.after_commit()  # the batch's units told, the turn held
                finally:
                    group.turn.release()

    # The table groups: each opens a unit (or joins the open one) and hands out its view.

    @contextmanager
    def writer(self) -> Iterator[SqlLedger]:
        """The ledger, in a write unit."""
        with self.unit(write=True) as unit:
            yield unit.ledger

    @contextmanager
    def reader(self) -> Iterator[SqlLedger]:
        """The ledger, in a read unit (one consistent snapshot on PostgreSQL)."""
        with self.unit(write=False) as unit:
            yield unit.ledger

    @contextmanager
    def access(self, *, write: bool = True) -> Iterator[SqlAccess]:
        """API keys and the audit log."""
        with self.unit(write=write) as unit:
            yield unit.access

    @contextmanager
    def watch(self, *, write: bool = True) -> Iterator[SqlWatch]:
        """The watch's checkpoint, observations, alerts, incidents and outbox."""
        with self.unit(write=write) as unit:
            yield unit.watch

    @contextmanager
    def screening(self, *, write: bool = True) -> Iterator[SqlScreening]:
        """Withdrawals, allow and deny lists, the breaker's log."""
        with self.unit(write=write) as unit:
            yield unit.screening

    @contextmanager
    def deposits(self, *, write: bool = True) -> Iterator[SqlDeposits]:
        """Deposit addresses, scanned blocks and credited deposits."""
        with self.unit(write=write) as unit:
            yield unit.deposits

    @contextmanager
    def custody(self, *, write: bool = True) -> Iterator[tuple[SqlLedger, SqlCustody]]:
        """The ledger and the custody tables (policies, proposals, approvals) together."""
        with self.unit(write=write) as unit:
            yield unit.ledger, unit.custody


@cache
def _sqlite_params() -> int:
    """How many parameters the SQLite library lets one statement bind."""
    conn = sqlite3.connect(":memory:")
    try:
        return int(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    finally:
        conn.close()


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _SumCache:
    """:meth:`SqlLedger.sum_balances` per account kind, as of a ledger head, shared by the
    store's read transactions.

    Summing every customer balance reads the whole balances table (half a million rows for
    the demo exchange: about 0.7 s on SQLite, whose exact sum of decimal text runs in
    Python). But balances change only in :meth:`SqlLedger.append`, which moves the head
    (seq, hash) in the same transaction; so the sums at a head are the sums of that head,
    and the sums at a later head are those plus the balance changes of the entries in
    between (:func:`~kinko.domain.ledger.entry_deltas`, the very changes ``append`` wrote).
    The count of accounts grows by the accounts those entries touched first. If the entry
    at the cached seq no longer has the cached hash (another database at the same URL),
    or the head went back, or more than ``_FORWARD`` postings came in between (an import:
    summing afresh is faster then), the sums are read afresh.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # kind -> (seq, hash, {asset: [balance, pending_debit, pending_credit, accounts]})
        self.known: dict[str, tuple[int, str, dict[str, list[int]]]] = {}


class SqlLedger:
    """Reads and writes inside one open transaction (see :meth:`SqlStore.writer`)."""

    def __init__(self, conn: Connection, dialect: str, sums: _SumCache | None = None, *,
                 touch: Callable[[str], None] | None = None,
                 head: tuple[int, str] | None = None, expiry: int | None = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self._sums = sums  # only read transactions use it: a writer's head may roll back
        self._touch = touch or untouched
        # a write unit's head, read with the writers' lock and moved by append: not read again
        self._head = head
        # a write unit's bound: no pending hold expires before it (µs; None: unknown), kept
        # from unit to unit of a batch (the writers' lock is held: only the batch adds holds)
        self._carry = head is not None
        self.expiry = expiry if self._carry else None
        self._hold_cache: dict[str, Hold] = {}
        # what prefetch read: keys asked, keys taken, holds and balances (None: no row)
        self._pre: tuple[frozenset[str], set[str], dict[str, tuple[Hold, str] | None],
                         dict[BalanceKey, BalanceState | None]] | None = None
        self._pre_of: tuple[frozenset[str], frozenset[str], frozenset[BalanceKey]] | None = None
        # hot paths use the driver directly (tuples, no per-row SQLAlchemy processing)
        self._p = "?" if dialect == "sqlite" else "%s"
        self._amount: Any = str  # exact decimal text; PostgreSQL casts it to NUMERIC

    def _raw(self, sql: str, params: Any = ()) -> Any:
        return run(self.conn, sql, params)

    def _marks(self, n: int) -> str:
        return ",".join([self._p] * n)

    def _insert_rows(self, table: str, columns: Sequence[tuple[str, str]],
                     rows: Sequence[tuple[Any, ...]], suffix: str = "") -> None:
        """Insert many rows in one go: ``executemany`` on SQLite; on PostgreSQL one
        ``INSERT ... SELECT FROM unnest(arrays)`` statement instead of a round trip per row.
        ``columns`` are (name, PostgreSQL type); numeric values arrive as decimal text."""
        if not rows:
            return
        if self.dialect == "sqlite":
            self._insert_flat(table, ", ".join(name for name, _ in columns),
                              f"({self._marks(len(columns))})", len(columns),
                              list(chain.from_iterable(rows)), suffix)
            return
        sql, params = _unnest(table, columns, rows, suffix)
        self._raw(sql, tuple(params))

    # ------------------------------------------------------------------ reading

    def head(self) -> tuple[int, str]:
        if self._head is not None:
            return self._head
        row = self.conn.execute(
            select(s.ledger_head.c.seq, s.ledger_head.c.hash).where(s.ledger_head.c.id == 1)
        ).first()
        if row is None:
            raise missing_row("ledger_head", 1)
        return (stored_int(row.seq, "ledger_head", "seq", 1),
                stored_text(row.hash, "ledger_head", "hash", 1))

    def _holds_by_id(self, ids: Collection[str]) -> dict[str, Hold]:
        missing = [i for i in set(ids) if i not in self._hold_cache]
        for chunk in _chunks(missing):
            for row in self.conn.execute(select(s.holds).where(s.holds.c.id.in_(chunk))):
                self._hold_cache[row.id] = _hold(row)
        return {i: self._hold_cache[i] for i in ids if i in self._hold_cache}

    def _build(self, rows: Sequence[Any]) -> list[Entry]:
        built, bad = self._built(rows)
        if bad is not None:
            raise bad
        return built

    def _built(self, rows: Sequence[Any]) -> tuple[list[Entry], StoredValueInvalid | None]:
        """The entries of ``rows`` (in sequence order) with their postings and holds; when a
        row holds what kinko never writes, the entries before it and the error naming it (a
        verification reports the first problem first)."""
        if not rows:
            return [], None
        seqs = [r.seq for r in rows]
        legs: dict[int, list[Posting]] = {q: [] for q in seqs}
        lo, hi = min(seqs), max(seqs)
        p = self._p
        bad: StoredValueInvalid | None = None
        for entry_seq, idx, account, asset, amount in self._raw(
            f"SELECT entry_seq, idx, account, asset, amount FROM postings WHERE entry_seq >= "
            f"{p} AND entry_seq <= {p} ORDER BY entry_seq, idx", (lo, hi)
        ):
            bucket = legs.get(entry_seq)
            if bucket is not None:
                try:
                    if account.__class__ is not str or asset.__class__ is not str:
                        column, value = ("account", account) if account.__class__ is not str \
                            else ("asset", asset)
                        raise unreadable("postings", column, f"{entry_seq}/{idx}", value,
                                         entry_seq)
                    try:
                        value = int(amount)
                    except (TypeError, ValueError):
                        value = stored_int(amount, "postings", "amount", f"{entry_seq}/{idx}",
                                           entry_seq)
                except StoredValueInvalid as exc:
                    bad = exc
                    break
                bucket.append(Posting(account, asset, value))
        holds = self._holds_by_id([r.hold_id for r in rows if r.hold_id])
        built: list[Entry] = []
        for r in rows:
            if bad is not None and r.seq >= (bad.seq or 0):
                break
            try:
                timestamp = stored_time(r.ts_us, "entries", "ts_us", r.seq, r.seq)
            except StoredValueInvalid as exc:
                return built, exc
            built.append(Entry(
                seq=int(r.seq), kind=r.kind, key=r.key, timestamp=timestamp,
                source=r.source, memo=r.memo, postings=tuple(legs[r.seq]),
                hold=holds.get(r.hold_id) if r.hold_id else None,
                prev_hash=r.prev_hash, hash=r.hash, digest=r.digest,
            ))
        return built, bad

    def entries(self, after_seq: int = 0, limit: int | None = None) -> Iterator[Entry]:
        """Entries in sequence order, fetched a page at a time."""
        page = 2000
        last = after_seq
        left = limit
        while left is None or left > 0:
            n = page if left is None else min(page, left)
            rows = self.conn.execute(
                select(s.entries).where(s.entries.c.seq > last).order_by(s.entries.c.seq).limit(n)
            ).all()
            if not rows:
                return
            built, bad = self._built(rows)
            yield from built
            if bad is not None:
                raise bad
            last = rows[-1].seq
            if left is not None:
                left -= len(rows)

    def _matching(self, column: str, table: str, values: Collection[str],
                  select_sql: str) -> Iterator[Any]:
        """Rows whose ``column`` is one of ``values``: ``IN (...)`` chunks on SQLite, one
        ``= ANY(array)`` on PostgreSQL (whose planner is slow on long IN lists)."""
        items = list(values)
        if not items:
            return
        if self.dialect == "postgresql":
            yield from self._raw(f"SELECT {select_sql} FROM {table} WHERE {column} = ANY(%s)",
                                 (items,))
            return
        for chunk in _chunks(items):
            yield from self._raw(f"SELECT {select_sql} FROM {table} WHERE {column} IN "
                                 f"({self._marks(len(chunk))})", tuple(chunk))

    def prefetch(self, keys: Collection[str], hold_ids: Collection[str],
                 balances: Collection[BalanceKey]) -> None:
        """Read in one statement what an append of a few entries is about to ask: which of
        ``keys`` are taken, the holds ``hold_ids``, the balances ``balances`` (and in a write
        unit that does not know it yet, the earliest expiry of a pending hold, for
        :meth:`due_holds`); :meth:`known_keys`, :meth:`hold_state` and :meth:`states` answer
        what it read until the next append (a round trip each, saved while the writers'
        lock is held). Nothing is read when another statement of the unit read exactly
        these already (:meth:`read_ahead`) and nothing was appended since."""
        ahead = self.read_ahead(keys, hold_ids, balances)
        if ahead is not None and self._pre is not None and self._pre_of == ahead.reads:
            return
        self._pre = None
        if ahead is not None:
            ahead.accept(list(self._raw(" UNION ALL ".join(ahead.parts(8)), ahead.params)))

    def read_ahead(self, keys: Collection[str], hold_ids: Collection[str],
                   balances: Collection[BalanceKey]) -> ReadAhead | None:
        """:meth:`prefetch`'s statement, for another statement of this unit to carry (one
        round trip less): its parts (a ``SELECT`` each, of as many columns as asked, the
        first a tag of one letter of ``k h x b``, to be joined with ``UNION ALL``), their
        parameters, and what takes the rows they return; None when there is nothing to
        read ahead."""
        # read ahead only plain text: anything else is left to the checks that refuse it
        keys = [k for k in keys if isinstance(k, str) and k.isprintable()]
        hold_ids = [h for h in hold_ids if isinstance(h, str) and h.isprintable()]
        balances = [b for b in balances if all(isinstance(v, str) and v.isprintable()
                                               for v in b)]
        if (not keys and not hold_ids and not balances) or \
                max(len(keys), len(hold_ids), len(balances)) > _PREFETCH:
            return None
        p = self._p
        parts: list[str] = []  # with "{pad}" where columns are added to reach a width
        params: list[Any] = []
        if keys:
            parts.append("SELECT 'k', key, NULL, NULL, NULL, NULL, NULL, NULL{pad} FROM "
                         f"entries WHERE key IN ({self._marks(len(keys))})")
            params += keys
        if hold_ids:
            parts.append("SELECT 'h', id, debit, credit, asset, CAST(amount AS TEXT), "
                         "CAST(expires_us AS TEXT), state{pad} FROM holds WHERE id IN "
                         f"({self._marks(len(hold_ids))})")
            params += hold_ids
        if self._carry and self.expiry is None:
            parts.append(f"SELECT 'x', CAST(({FIRST_EXPIRY}) AS TEXT), NULL, NULL, NULL, "
                         "NULL, NULL, NULL{pad}")
        if balances:
            parts.append("SELECT 'b', account, asset, CAST(balance AS TEXT), "
                         "CAST(pending_debit AS TEXT), CAST(pending_credit AS TEXT), NULL, "
                         "NULL{pad} FROM balances WHERE " + " OR ".join(
                             [f"(account = {p} AND asset = {p})"] * len(balances)))
            params += [v for key in balances for v in key]
        reads = (frozenset(keys), frozenset(hold_ids), frozenset(balances))

        def accept(rows: Iterable[Sequence[Any]]) -> None:
            taken: set[str] = set()
            holds: dict[str, tuple[Hold, str] | None] = dict.fromkeys(hold_ids)
            states: dict[BalanceKey, BalanceState | None] = dict.fromkeys(balances)
            for tag, a, b, c, d, e, f, g, *_ in rows:
                if tag == "k":
                    taken.add(a)
                elif tag == "x":
                    self.expiry = _NEVER if a is None else int(a)
                elif tag == "h":
                    holds[a] = (Hold(a, b, c, d, int(e),
                                     None if f is None else from_us(int(f))), str(g))
                else:
                    states[(a, b)] = BalanceState(int(c), int(d), int(e))
            self._pre = (frozenset(keys), taken, holds, states)
            self._pre_of = reads

        def width(n: int) -> list[str]:
            return [part.replace("{pad}", ", NULL" * (n - 8)) for part in parts]

        return ReadAhead(width, tuple(params), accept, reads)

    def known_keys(self, keys: Collection[str]) -> set[str]:
        pre = self._pre
        if pre is not None and pre[0].issuperset(keys):
            return pre[1] & set(keys)
        return {row[0] for row in self._matching("key", "entries", keys, "key")}

    def count_keys(self, prefix: str) -> int:
        """How many entries have an idempotency key starting with ``prefix``: on SQLite a
        range of the keys' unique index (``prefix`` <= key < ``prefix`` with its last
        character advanced: SQLite compares text byte by byte); on PostgreSQL, whose
        collation may order punctuation otherwise, ``LIKE`` with the prefix escaped."""
        query = select(func.count()).select_from(s.entries)
        key = s.entries.c.key
        if prefix and self.dialect == "sqlite":
            query = query.where(key >= prefix, key < prefix[:-1] + chr(ord(prefix[-1]) + 1))
        elif prefix:
            query = query.where(key.startswith(prefix, autoescape=True))
        return int(self.conn.execute(query).scalar_one())

    def entries_by_key(self, keys: Collection[str]) -> dict[str, Entry]:
        found = self.known_keys(keys)
        out: dict[str, Entry] = {}
        for chunk in _chunks(sorted(found)):
            rows = self.conn.execute(select(s.entries).where(s.entries.c.key.in_(chunk))).all()
            out.update((e.key, e) for e in self._build(sorted(rows, key=lambda r: r.seq)))
        return out

    def _ranged(self, kind: str) -> bool:
        """Whether to find ``kind:...`` accounts as a key range rather than with LIKE.
        SQLite's LIKE ignores case, so its index cannot answer it and every row is read
        (36 ms for the four wallet rows of the demo's 546,000); a range (the same rows:
        kinds are lower case) is a short walk of the primary key. Not for customers, who
        are nearly every row: there the walk plus a lookup per row is twice the scan."""
        return self.dialect == "sqlite" and kind != "customer"

    def _balance_filter(self, table: Any, account: str | None, kind: str | None,
                        asset: str | None) -> list[Any]:
        conds = []
        if account is not None:
            conds.append(table.c.account == account)
        if kind is not None:
            kind = kind.replace("%", "").replace("_", "")
            if self._ranged(kind):
                conds.append((table.c.account == kind) | (table.c.account >= kind + ":")
                             & (table.c.account < kind + ";"))
            else:
                conds.append((table.c.account == kind) | table.c.account.like(kind + ":%"))
        if asset is not None:
            conds.append(table.c.asset == asset)
        return conds

    def _where(self, account: str | None, kind: str | None,
               asset: str | None) -> tuple[str, list[Any]]:
        conds: list[str] = []
        params: list[Any] = []
        p = self._p
        if account is not None:
            conds.append(f"account = {p}")
            params.append(account)
        if kind is not None:
            kind = kind.replace("%", "").replace("_", "")
            if self._ranged(kind):
                conds.append(f"(account = {p} OR (account >= {p} AND account < {p}))")
                params += [kind, kind + ":", kind + ";"]
            else:
                conds.append(f"(account = {p} OR account LIKE {p})")
                params += [kind, kind + ":%"]
        if asset is not None:
            conds.append(f"asset = {p}")
            params.append(asset)
        return (" WHERE " + " AND ".join(conds) if conds else ""), params

    def balances(self, account: str | None = None, kind: str | None = None,
                 asset: str | None = None, *, after: tuple[str, str] | None = None,
                 limit: int | None = None) -> Iterator[BalanceRow]:
        """Balances in (account, asset) order; a page of ``limit`` after the key ``after``
        reads only that page (the primary key's index), however many balances there are."""
        where, params = self._where(account, kind, asset)
        if after is not None:
            p = self._p
            where += (" AND " if where else " WHERE ") + \
                f"(account > {p} OR (account = {p} AND asset > {p}))"
            params += [after[0], after[0], after[1]]
        page = f" LIMIT {int(limit)}" if limit is not None else ""
        rows = self._raw("SELECT account, asset, balance, pending_debit, pending_credit "
                         f"FROM balances{where} ORDER BY account, asset{page}", tuple(params))
        for account_, asset_, b, pd, pc in rows:
            try:
                state = BalanceState(int(b), int(pd), int(pc))
            except (TypeError, ValueError):
                row = f"{account_}/{asset_}"
                state = BalanceState(stored_int(b, "balances", "balance", row),
                                     stored_int(pd, "balances", "pending_debit", row),
                                     stored_int(pc, "balances", "pending_credit", row))
            yield BalanceRow(account_, asset_, state)

    def balances_as_of(self, *, seq: int | None = None, at: datetime | None = None,
                       account: str | None = None, kind: str | None = None,
                       asset: str | None = None) -> Iterator[BalanceRow]:
        """Posted balances from the journal as of entry ``seq`` and/or time ``at``."""
        p = s.postings
        total = func.kinko_sum(p.c.amount) if self.dialect == "sqlite" else func.sum(p.c.amount)
        q = select(p.c.account, p.c.asset, total.label("total"))
        conds = self._balance_filter(p, account, kind, asset)
        if seq is not None:
            conds.append(p.c.entry_seq <= seq)
        if at is not None:
            q = q.join(s.entries, s.entries.c.seq == p.c.entry_seq)
            conds.append(s.entries.c.ts_us <= to_us(at))
        q = q.where(*conds).group_by(p.c.account, p.c.asset).order_by(p.c.account, p.c.asset)
        for r in self.conn.execute(q):
            yield BalanceRow(r.account, r.asset, BalanceState(int(r.total)))

    def debits(self, account: str) -> dict[str, int]:
        """Per asset, everything ever debited to ``account`` (its positive postings): what
        was booked to it, whatever was credited to it later."""
        p = s.postings
        if self.dialect == "sqlite":  # amounts are text there: a debit has no minus sign
            positive = func.substr(p.c.amount, 1, 1) != "-"
            total = func.kinko_sum(p.c.amount)
        else:
            positive = p.c.amount > 0
            total = func.sum(p.c.amount)
        q = (select(p.c.asset, total.label("total")).where(p.c.account == account, positive)
             .group_by(p.c.asset).order_by(p.c.asset))
        return {r.asset: int(r.total) for r in self.conn.execute(q) if int(r.total)}
    def backdated(self, at: datetime, limit: int = 5
                  ) -> tuple[int, list[tuple[int, str, datetime]]]:
        """Entries dated at or before ``at`` that were appended after an entry dated after
        it (a time given with the entry, ``--at``): how many, and the first ``limit`` of them
        (sequence number, key, time). The journal "as it stood at ``at``" counts them,
        though they were written later."""
        p = self._p
        us = to_us(at)
        after = f"(SELECT MIN(seq) FROM entries WHERE ts_us > {p})"
        ((count,),) = list(self._raw(f"SELECT COUNT(*) FROM entries WHERE ts_us <= {p} AND "
                                     f"seq > {after}", (us, us)))
        if not count:
            return 0, []
        rows = self._raw(f"SELECT seq, key, ts_us FROM entries WHERE ts_us <= {p} AND seq > "
                         f"{after} ORDER BY seq LIMIT {int(limit)}", (us, us))
        return int(count), [(int(seq), str(key), stored_time(ts, "entries", "ts_us", seq, seq))
                            for seq, key, ts in rows]

    def sum_balances(self, kind: str) -> dict[str, tuple[BalanceState, int]]:
        """Per asset, the summed balances of every account of one kind, and how many
        (brought forward from the last read's sums when this is a read transaction: see
        :class:`_SumCache`)."""
        cache = self._sums
        if cache is None:
            return self._sum_balances(kind)
        seq, head_hash = self.head()
        with cache.lock:
            known = cache.known.get(kind)
        if known is not None and known[:2] == (seq, head_hash):
            sums = known[2]
        elif (known is not None and 0 < known[0] < seq <= known[0] + _FORWARD
              and self._hash_at(known[0]) == known[1]
              and self._postings_between(known[0], seq) <= _FORWARD):
            sums = self._forward(kind, known[0], seq, known[2])
        else:
            sums = {asset: [*state, n] for asset, (state, n) in self._sum_balances(kind).items()}
        with cache.lock:
            latest = cache.known.get(kind)
            if latest is None or latest[0] <= seq:
                cache.known[kind] = (seq, head_hash, sums)
        return {asset: (BalanceState(v[0], v[1], v[2]), v[3]) for asset, v in sums.items()}

    def _sum_balances(self, kind: str) -> dict[str, tuple[BalanceState, int]]:
        b = s.balances
        agg = func.kinko_sum if self.dialect == "sqlite" else func.sum
        q = (select(b.c.asset, agg(b.c.balance).label("bal"), agg(b.c.pending_debit).label("pd"),
                    agg(b.c.pending_credit).label("pc"), func.count().label("n"))
             .where(*self._balance_filter(b, None, kind, None)).group_by(b.c.asset))
        return {r.asset: (BalanceState(int(r.bal), int(r.pd), int(r.pc)), int(r.n))
                for r in self.conn.execute(q)}

    def _postings_between(self, after: int, upto: int) -> int:
        # both bounds: PostgreSQL's generic plan for a prepared statement then estimates a
        # narrow range and walks the primary key (with only a lower bound it scanned every
        # posting: 30 ms a request at 546,000 postings)
        p = self._p
        return int(self._raw(f"SELECT count(*) FROM postings WHERE entry_seq > {p} AND "
                             f"entry_seq <= {p}", (after, upto)).scalar())

    def _hash_at(self, seq: int) -> str | None:
        return self.conn.execute(select(s.entries.c.hash).where(s.entries.c.seq == seq)
                                 ).scalar()

    def _forward(self, kind: str, since: int, seq: int, sums: dict[str, list[int]]
                 ) -> dict[str, list[int]]:
        """``sums`` (as of entry ``since``) plus the changes of entries ``since`` + 1 to
        ``seq`` to the accounts of ``kind``; a new dict (the cached one is shared)."""
        out = {asset: list(v) for asset, v in sums.items()}
        prefix = kind + ":"
        touched: set[BalanceKey] = set()
        for entry in self.entries(after_seq=since, limit=seq - since):
            for (account, asset), (b, pd, pc) in entry_deltas(entry).items():
                if account == kind or account.startswith(prefix):
                    slot = out.setdefault(asset, [0, 0, 0, 0])
                    slot[0] += b
                    slot[1] += pd
                    slot[2] += pc
                    touched.add((account, asset))
        for _account, asset in touched - self._existing(touched, since):
            out[asset][3] += 1
        return out

    def _existing(self, keys: set[BalanceKey], seq: int) -> set[BalanceKey]:
        """Which of ``keys`` had a balance row after entry ``seq``: those an entry up to
        ``seq`` touched, by a posting or a hold."""
        found: set[BalanceKey] = set()
        p = self._p
        accounts = sorted({account for account, _ in keys})
        for chunk in _chunks(accounts):
            found.update((a, c) for a, c in self._raw(
                f"SELECT DISTINCT account, asset FROM postings WHERE entry_seq <= {p} AND "
                f"account IN ({self._marks(len(chunk))})", (seq, *chunk)))
        rest = keys - found
        if rest:
            names = sorted({account for account, _ in rest})
            for chunk in _chunks(names, _CHUNK // 2):
                marks = self._marks(len(chunk))
                for debit, credit, asset in self._raw(
                        f"SELECT debit, credit, asset FROM holds WHERE created_seq <= {p} AND "
                        f"(debit IN ({marks}) OR credit IN ({marks}))", (seq, *chunk, *chunk)):
                    found.update({(debit, asset), (credit, asset)} & rest)
        return found & keys

    def pending_holds(self) -> list[Hold]:
        rows = self.conn.execute(
            select(s.holds).where(s.holds.c.state == "pending").order_by(s.holds.c.id)
        )
        return [_hold(r) for r in rows]

    def hold_states(self, hold_ids: Collection[str]) -> dict[str, str]:
        """The state of each of these holds that exists (pending, posted, voided, expired)."""
        return {str(i): str(st) for i, st in self._matching("id", "holds", hold_ids, "id, state")}

    def hold_state(self, hold_id: str) -> tuple[Hold, str] | None:
        pre = self._pre
        if pre is not None and hold_id in pre[2]:
            return pre[2][hold_id]
        row = self._raw("SELECT id, debit, credit, asset, amount, expires_us, state FROM holds "
                        f"WHERE id = {self._p}", (hold_id,)).first()
        if row is None:
            return None
        return Hold(row[0], row[1], row[2], row[3], int(row[4]),
                    None if row[5] is None else from_us(int(row[5]))), str(row[6])

    def wallets(self) -> list[Wallet]:
        rows = self.conn.execute(select(s.wallets).order_by(s.wallets.c.name))
        return [Wallet(r.name, r.asset, r.tier, tuple(json.loads(r.addresses)), r.kind,
                       None if r.setup is None else Multisig.from_json(json.loads(r.setup)))
                for r in rows]

    def assets(self) -> list[Asset]:
        rows = self.conn.execute(select(s.assets).order_by(s.assets.c.symbol))
        return [Asset(r.symbol, r.chain, r.decimals, r.token) for r in rows]

    # ------------------------------------------------------------------ writing

    def states(self, keys: Collection[BalanceKey]) -> dict[BalanceKey, BalanceState]:
        wanted = keys if isinstance(keys, set | frozenset) else set(keys)  # (not copied)
        pre = self._pre
        if pre is not None and wanted <= pre[3].keys():
            return {key: state for key in wanted if (state := pre[3][key]) is not None}
        out: dict[BalanceKey, BalanceState] = {}
        accounts = {a for a, _ in wanted}
        columns = "account, asset, balance, pending_debit, pending_credit"
        for account, asset, b, pd, pc in (
                self._balances_of(sorted(accounts), columns) if self.dialect == "sqlite"
                else self._matching("account", "balances", accounts, columns)):
            key = (account, asset)
            if key in wanted:  # most balances have nothing pending: "0" read as 0 directly
                out[key] = BalanceState(int(b), 0 if pd == "0" else int(pd),
                                        0 if pc == "0" else int(pc))
        return out

    def _balances_of(self, accounts: Sequence[str], columns: str) -> Iterator[Any]:
        """SQLite: the balance rows of ``accounts`` (sorted), a chunk of them at a time.
        A chunk's range of accounts is read in key order when it holds at most two rows
        an account of the chunk (the chunk's accounts are new, as an import's customers
        are, or most accounts in the range are the chunk's): one walk of the B-tree
        instead of a look-up per account. Otherwise the rows found are dropped and the
        accounts looked up one by one (``IN``); the walk then stopped after those rows."""
        p = self._p
        for chunk in _chunks(accounts):
            most = 2 * len(chunk)
            rows = self._raw(f"SELECT {columns} FROM balances WHERE account >= {p} AND "
                             f"account <= {p} LIMIT {most + 1}", (chunk[0], chunk[-1])).all()
            if len(rows) <= most:
                yield from rows
            else:
                yield from self._raw(f"SELECT {columns} FROM balances WHERE account IN "
                                     f"({self._marks(len(chunk))})", tuple(chunk))

    def due_holds(self, now: datetime) -> list[Hold]:
        at = to_us(now)
        if self.expiry is not None and at < self.expiry:
            return []  # nothing pending expires before then (known in this batch)
        if self._carry:
            first = self._raw(FIRST_EXPIRY).scalar()
            self.expiry = _NEVER if first is None else int(first)
            if at < self.expiry:
                return []
            self.expiry = None  # these are expired now: read it again next time
        rows = self.conn.execute(
            select(s.holds)
            .where(and_(s.holds.c.state == "pending", s.holds.c.expires_us <= at))
            .order_by(s.holds.c.expires_us, s.holds.c.id)
        )
        return [_hold(r) for r in rows]

    def append(self, entries: Sequence[Entry], states: Mapping[BalanceKey, BalanceState]) -> None:
        """Persist sealed entries, their postings, hold changes, balances and the new head."""
        self._pre = None  # what was read ahead is about to change
        if not entries:
            return
        entry_rows: list[tuple[Any, ...]] = []
        posting_rows: list[tuple[Any, ...]] = []
        new_holds: list[tuple[Any, ...]] = []
        resolves: list[tuple[str, str, int]] = []
        amount = self._amount
        add_entry = entry_rows.append
        add_posting = posting_rows.append
        at: datetime | None = None  # a batch's entries mostly share one time: convert it once
        at_us = 0
        # one plain loop, each entry's fields unpacked and its postings added one by one
        # (half the time of a comprehension per entry and a look-up per field: 0.6 against
        # 1.3 µs an entry of two postings)
        for seq, kind, key, timestamp, source, memo, postings, h, prev_hash, hashed, digest \
                in entries:
            if timestamp is not at:
                at = timestamp
                at_us = to_us(at)
            if h is None:
                add_entry((seq, key, kind, at_us, source, memo, None, None, digest, prev_hash,
                           hashed))
            elif kind == "hold":
                add_entry((seq, key, kind, at_us, source, memo, h.id, None, digest, prev_hash,
                           hashed))
                if h.expires_at is not None and self.expiry is not None:
                    self.expiry = min(self.expiry, to_us(h.expires_at))
                new_holds.append((h.id, h.debit, h.credit, h.asset, amount(h.amount),
                                  to_us(h.expires_at) if h.expires_at else None, "pending",
                                  seq, None))
            else:
                add_entry((seq, key, kind, at_us, source, memo, h.id, h.id, digest, prev_hash,
                           hashed))
                resolves.append((h.id, _STATE[kind], seq))
            for i, (account, asset, value) in enumerate(postings):
                add_posting((seq, i, account, asset, amount(value)))
        self._write((entries[-1].seq, entries[-1].hash), new_holds, entry_rows, posting_rows,
                    resolves, states)

    def _write(self, last: tuple[int, str], new_holds: list[tuple[Any, ...]],
               entry_rows: list[tuple[Any, ...]], posting_rows: list[tuple[Any, ...]],
               resolves: list[tuple[str, str, int]],
               states: Mapping[BalanceKey, StateValues]) -> None:
        """:meth:`append`'s writes: its rows, the holds it resolves (``resolves``: each
        hold's id, new state and resolving entry), the balances and the new head ``last``
        (sequence and hash)."""
        if self.dialect == "postgresql" and len(entry_rows) <= _ONE_STATEMENT and not (
                {r[0] for r in resolves} & {h[0] for h in new_holds}):
            self._append_at_once(last, new_holds, entry_rows, posting_rows, resolves, states)
            return
        try:
            self._insert_rows("holds", _HOLD_COLUMNS, new_holds)
            self._insert_rows("entries", _ENTRY_COLUMNS, entry_rows)
        except IntegrityError as exc:
            raise _entry_conflict(str(exc.orig).splitlines()[0]) from None
        self._insert_rows("postings", _POSTING_COLUMNS, posting_rows)
        for hold, state, seq in resolves:
            done = self.conn.execute(
                update(s.holds)
                .where(and_(s.holds.c.id == hold, s.holds.c.state == "pending"))
                .values(state=state, resolved_seq=seq)
            )
            if done.rowcount != 1:
                raise HoldError(f"hold {hold} is not pending", hold=hold,
                                says=msg("error.hold.not_pending", hold=hold[:128]))
        self._upsert_balances(states)
        p = self._p
        self._raw(f"UPDATE ledger_head SET seq = {p}, hash = {p} WHERE id = 1", last)
        if self._head is not None:
            self._head = last

    def append_transfers(self, sealed: SealedTransfers,
                         states: Mapping[BalanceKey, StateValues]) -> None:
        """:meth:`append` for plain transfers as a
        :class:`~kinko.domain.ledger.TransferSealer` sealed them: on SQLite the same rows,
        written from the batch's flat values (no record per entry or posting, no hold
        columns to bind), its balances and the new head."""
        self._pre = None
        rows = sealed.rows
        if not rows:
            return
        width = sealed.ROW
        times = rows[2::width]
        first = times[0]
        # a batch's entries mostly share one time: converted once
        micros = ([to_us(first)] * len(times) if times.count(first) == len(times)
                  else [to_us(t) for t in times])
        if self.dialect != "sqlite":
            legs = sealed.legs
            self._write((rows[-width], rows[-1]), [], [
                (seq, key, "transfer", us, source, memo, None, None, digest, prev, hashed)
                for (seq, key, _, source, memo, digest, prev, hashed), us in zip(
                    (rows[i:i + width] for i in range(0, len(rows), width)), micros,
                    strict=True)], [tuple(legs[i:i + sealed.LEG])
                                    for i in range(0, len(legs), sealed.LEG)], [], states)
            return
        flat = rows.copy()
        flat[2::width] = micros
        try:
            self._insert_flat("entries", _TRANSFER_COLUMNS, _TRANSFER_ROW, width, flat)
        except IntegrityError as exc:
            raise _entry_conflict(str(exc.orig).splitlines()[0]) from None
        self._insert_flat("postings", _POSTING_NAMES, f"({self._marks(sealed.LEG)})",
                          sealed.LEG, sealed.legs)
        self._upsert_balances(states)
        seq, hashed = rows[-width], rows[-1]
        self._raw("UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1", (seq, hashed))
        if self._head is not None:
            self._head = (seq, hashed)

    def _insert_flat(self, table: str, names: str, row: str, width: int,
                     flat: Sequence[Any], suffix: str = "") -> None:
        """SQLite: rows of ``width`` values each, one after the other in ``flat`` (``row``
        spells one row's values), inserted many rows a statement (the most the library's
        limit of bound parameters allows first, the rest in smaller statements)."""
        start = 0
        for per in (*(n for n in _ROWS_PER_INSERT if n * width <= _sqlite_params()), 1):
            step = per * width
            end = start + (len(flat) - start) // step * step
            if end > start:
                self._raw(f"INSERT INTO {table} ({names}) VALUES {','.join([row] * per)}"
                          f"{suffix}", [tuple(flat[i:i + step]) for i in range(start, end, step)])
                start = end

    def _append_at_once(self, last: tuple[int, str], new_holds: list[tuple[Any, ...]],
                        entry_rows: list[tuple[Any, ...]],
                        posting_rows: list[tuple[Any, ...]],
                        resolves: list[tuple[str, str, int]],
                        states: Mapping[BalanceKey, StateValues]) -> None:
        """PostgreSQL, a few entries: all of :meth:`append`'s writes in one statement (one
        round trip, while the writers' lock is held), its parts data-modifying ``WITH``
        clauses, which PostgreSQL runs to completion whether or not the last part reads
        them. Not for a batch that resolves a hold it creates (one statement's parts do not
        see each other's rows)."""
        parts: list[str] = []
        params: list[Any] = []
        for name, (table, columns, rows, suffix) in {
                "h": ("holds", _HOLD_COLUMNS, new_holds, ""),
                "e": ("entries", _ENTRY_COLUMNS, entry_rows, ""),
                "p": ("postings", _POSTING_COLUMNS, posting_rows, ""),
                "b": ("balances", _BALANCE_COLUMNS, self._balance_rows(states), _UPSERT),
        }.items():
            if rows:
                sql, values = _unnest(table, columns, rows, suffix)
                parts.append(f"{name} AS ({sql})")
                params += values
        resolved = "NULL"
        if resolves:
            parts.append("r AS (UPDATE holds AS t SET state = u.state, resolved_seq = u.seq "
                         "FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS u(id, state, "
                         "seq) WHERE t.id = u.id AND t.state = 'pending' RETURNING t.id)")
            params += [list(column) for column in zip(*resolves, strict=True)]
            resolved = "(SELECT array_agg(id) FROM r)"
        params += last
        sql = f"WITH {', '.join(parts)} UPDATE ledger_head SET seq = %s, hash = %s WHERE id = 1"
        if not resolves:  # nothing to read back: sent with the unit's next statement
            defer(self.conn, sql, tuple(params), conflict=_entry_conflict)
            if self._head is not None:
                self._head = last
            return
        try:
            done = self._raw(f"{sql} RETURNING {resolved}", tuple(params)).scalar()
        except IntegrityError as exc:
            raise _entry_conflict(str(exc.orig).splitlines()[0]) from None
        missing = [hold for hold, _, _ in resolves if hold not in set(done or ())]
        if missing:
            raise HoldError(f"hold {missing[0]} is not pending", hold=missing[0],
                            says=msg("error.hold.not_pending", hold=missing[0][:128]))
        if self._head is not None:
            self._head = last

    def _balance_rows(self, states: Mapping[BalanceKey, StateValues]) -> list[tuple[Any, ...]]:
        amount = self._amount
        # most balances have nothing pending: its text written without a conversion
        return [(a, c, amount(b), amount(d) if d else "0", amount(k) if k else "0")
                for (a, c), (b, d, k) in states.items()]

    def _upsert_balances(self, states: Mapping[BalanceKey, StateValues]) -> None:
        if not states:
            return
        rows = self._balance_rows(states)
        if self.dialect == "sqlite" and len(rows) > 1:
            # in key order: SQLite's multi-row upsert then walks the table's B-tree from left
            # to right (in a batch's order it took twice the time per row)
            rows.sort()
        self._insert_rows("balances", _BALANCE_COLUMNS, rows, _UPSERT)

    def put_wallet(self, wallet: Wallet) -> None:
        self._touch("wallets")
        row = {"name": wallet.name, "asset": wallet.asset, "tier": wallet.tier,
               "addresses": json.dumps(list(wallet.addresses)), "kind": wallet.kind,
               "setup": None if wallet.multisig is None else json.dumps(
                   wallet.multisig.to_json(), sort_keys=True)}
        ins = (sqlite.insert if self.dialect == "sqlite" else postgresql.insert)(s.wallets)
        self.conn.execute(ins.on_conflict_do_update(
            index_elements=["name"],
            set_={"asset": ins.excluded.asset, "tier": ins.excluded.tier,
                  "addresses": ins.excluded.addresses, "kind": ins.excluded.kind,
                  "setup": ins.excluded.setup},
        ), row)

    def put_assets(self, assets: Sequence[Asset]) -> None:
        ins = (sqlite.insert if self.dialect == "sqlite" else postgresql.insert)(s.assets)
        rows = [{"symbol": a.symbol, "chain": a.chain, "decimals": a.decimals, "token": a.token}
                for a in assets]
        if rows:
            self.conn.execute(ins.on_conflict_do_nothing(index_elements=["symbol"]), rows)


_STATE = {"post": "posted", "void": "voided", "expire": "expired"}
_ENTRY_COLUMNS = (("seq", "bigint"), ("key", "text"), ("kind", "text"), ("ts_us", "bigint"),
                  ("source", "text"), ("memo", "text"), ("hold_id", "text"),
                  ("resolves_hold", "text"), ("digest", "text"), ("prev_hash", "text"),
                  ("hash", "text"))
_POSTING_COLUMNS = (("entry_seq", "bigint"), ("idx", "int"), ("account", "text"),
                    ("asset", "text"), ("amount", "numeric"))
_POSTING_NAMES = ", ".join(name for name, _ in _POSTING_COLUMNS)
# a plain transfer's entry row on SQLite: its kind spelled in the statement, no hold (NULL)
_TRANSFER_COLUMNS = "seq, key, kind, ts_us, source, memo, digest, prev_hash, hash"
_TRANSFER_ROW = "(?, ?, 'transfer', ?, ?, ?, ?, ?, ?)"
_UPSERT = (" ON CONFLICT (account, asset) DO UPDATE SET balance = excluded.balance, "
           "pending_debit = excluded.pending_debit, pending_credit = excluded.pending_credit")
_PREFETCH = 50  # most keys, holds or balances SqlLedger.prefetch reads in one statement
_ONE_STATEMENT = 64  # entries PostgreSQL appends in one statement (SqlLedger._append_at_once)


def _unnest(table: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[Any, ...]],
            suffix: str = "") -> tuple[str, list[Any]]:
    """PostgreSQL: ``INSERT ... SELECT FROM unnest(arrays)``, one array per column (numeric
    values as decimal text, cast), and its parameters."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join("%s::text[]" if kind == "numeric" else f"%s::{kind}[]"
                       for _, kind in columns)
    picks = ", ".join(f"c{i}::numeric" if kind == "numeric" else f"c{i}"
                      for i, (_, kind) in enumerate(columns))
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    return (f"INSERT INTO {table} ({names}) SELECT {picks} FROM unnest({arrays}) "
            f"AS u({aliases}){suffix}", [list(col) for col in zip(*rows, strict=True)])


_HOLD_COLUMNS = (("id", "text"), ("debit", "text"), ("credit", "text"), ("asset", "text"),
                 ("amount", "numeric"), ("expires_us", "bigint"), ("state", "text"),
                 ("created_seq", "bigint"), ("resolved_seq", "bigint"))
_BALANCE_COLUMNS = (("account", "text"), ("asset", "text"), ("balance", "numeric"),
                    ("pending_debit", "numeric"), ("pending_credit", "numeric"))


def _entry_conflict(reason: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        "an entry with this idempotency key, hold id or resolution already exists",
        reason=reason, says=msg("error.ledger.entry_conflict"))


def _hold(row: Any) -> Hold:
    return Hold(
        id=row.id, debit=row.debit, credit=row.credit, asset=row.asset, amount=row.amount,
        expires_at=from_us(row.expires_us) if row.expires_us is not None else None,
    )

