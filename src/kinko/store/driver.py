"""Statements sent through the database driver's own cursor, for the hot paths.

SQLAlchemy's ``exec_driver_sql`` sends SQL text as written, but still builds an execution
context, a cursor result and its column metadata for every statement: about 60-100 µs of
Python each, which a withdrawal request pays on each of its ~20 statements. :func:`run`
sends the same text and parameters on the same connection (same transaction, same
savepoints) with the driver's cursor and hands back plain tuples.

What SQLAlchemy does on a failure is kept: a driver error goes through the connection's
own handling (wrapped in SQLAlchemy's exception classes, so an ``IntegrityError`` is still
one; a lost connection is invalidated with its pool). While anyone listens to the engine's
statement events (the round-trip benchmark counts statements that way; tracing tools do),
statements go through SQLAlchemy instead, so every one of them is seen.

:func:`defer` holds a statement whose rows nobody reads (a savepoint taken or released, a
write whose result is not needed) until the next statement on the same connection, and
sends them in one round trip (libpq's pipeline mode: through psycopg's pipeline by
:class:`Cursor`, every PostgreSQL connection's cursor, for SQLAlchemy's statements; driven
directly by :func:`run` and :func:`flush`, whose statements are the hot paths', at a fifth
of the CPU: :func:`_round_trip`); under the writers' lock each round trip is time every
other writer waits. Order is kept (a statement sent through SQLAlchemy sends what is held
first), and a held write that fails raises from the statement it was sent with, or from
:func:`flush`, which a write unit calls before it ends: its errors stay the unit's. A
write unit followed by others in its transaction may leave its writes held instead
(:func:`owned`): one that fails then raises :class:`Earlier` from the later statement,
naming its unit, for the store to undo that unit alone. Before a commit
(:func:`finish`), a savepoint's release still held is dropped (the commit does it); a
connection put back in its pool holds nothing. A savepoint held and withdrawn before it
was sent (:func:`withdraw`) costs nothing at all: a unit that failed before any statement
of its own.

On PostgreSQL a transaction's ``BEGIN`` is held the same way (:func:`begin`): psycopg sends
its own as a round trip of its own before the first statement, even in a pipeline; with the
connection in psycopg's autocommit and the ``BEGIN`` (with the isolation level SQLAlchemy
set) held, it travels with the transaction's first statement. A transaction that sent no
statement was never begun on the server, and its commit or rollback costs nothing.
:func:`run_all` sends several statements whose rows are all read in one round trip
(each still runs after the one before it has finished, with a snapshot of its own in
READ COMMITTED: a row lock first, then reads that see what the lock's holder committed).
"""

from __future__ import annotations

import logging
import select
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from functools import cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.types.array import ListDumper
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, MultipleResultsFound, NoResultFound

from kinko.errors import KinkoError

try:  # psycopg's own conversion of a statement and its parameters (%s to $n, each dumped)
    # and its books of prepared statements, for the direct pipeline (_round_trip)
    from psycopg._preparing import Prepare
    from psycopg._queries import PostgresQuery
except ImportError:  # a psycopg without them: its own pipeline
    PostgresQuery = None  # type: ignore[assignment,misc]

__all__ = ["ArrayText", "Cursor", "Earlier", "Rows", "begin", "defer", "failed", "finish",
           "flush", "forget", "lost", "owned", "plain_arrays", "run", "run_all", "watched",
           "withdraw"]

log = logging.getLogger(__name__)

_HELD = "kinko_held"  # attribute of a psycopg connection: the statements deferred on it
_LOST = "kinko_lost"  # attribute of a psycopg connection: an owner's held write that failed


class Earlier(Exception):
    """A held write that a finished part of the transaction left (see :func:`owned`)
    failed, sent with a later statement: ``owner`` is that part's, ``error`` what its own
    flush would have raised. That later statement and every held one after the failed
    write were not run; the transaction is in error until rolled back to before the
    owner's writes."""

    def __init__(self, owner: object, error: BaseException) -> None:
        super().__init__(str(error))
        self.owner = owner
        self.error = error


class Rows:
    """What a statement returned: its rows (tuples) and the count of rows it changed."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: Sequence[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def all(self) -> Sequence[Any]:
        return self.rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise (NoResultFound if not self.rows else MultipleResultsFound)(
                f"one row was expected, the statement returned {len(self.rows)}")
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


def watched(conn: Connection) -> bool:
    """Whether anyone listens to the engine's statement events."""
    dispatch = conn.dispatch
    return bool(dispatch.before_cursor_execute) or bool(dispatch.after_cursor_execute)


class _Held:
    """A statement deferred to the next round trip: its text and parameters; what its
    failure on a constraint means to the caller (``conflict``: the error to raise, from the
    database's reason); whether it may be dropped when nothing follows it (a savepoint's
    release before the transaction ends)."""

    __slots__ = ("conflict", "droppable", "owner", "params", "sql")

    def __init__(self, sql: str, params: Any, conflict: Callable[[str], KinkoError] | None,
                 droppable: bool) -> None:
        self.sql = sql
        self.params = params
        self.conflict = conflict
        self.droppable = droppable
        self.owner: object | None = None  # a finished part's (owned): its failure is that part's


def _send(dbapi: Any, held: list[_Held], then: Callable[[], Any] | None = None) -> None:
    """The held statements, then ``then`` (a cursor's own statement), in one round trip.
    The first that fails raises (the rest are not run): a held statement's own conflict
    error if it failed on a constraint and has one, else the driver's error."""
    cursors: list[psycopg.Cursor[Any]] = []
    try:
        with dbapi.pipeline():
            for item in held:
                cursor = psycopg.Cursor(dbapi)
                cursors.append(cursor)
                cursor.execute(item.sql, item.params)
            if then is not None:
                then()
    except psycopg.Error as exc:
        for cursor, item in zip(cursors, held, strict=True):
            if cursor.pgresult is None:  # the first without a result is the one that failed
                _raise_held(dbapi, item, exc)
                break
        raise
    finally:
        for cursor in cursors:
            cursor.close()


def _raise_held(dbapi: Any, item: _Held, exc: psycopg.Error) -> None:
    """A held statement failed with ``exc``: raise what its failure means to the caller (its
    own conflict error if it failed on a constraint and has one; :class:`Earlier` if a
    finished part owns it), or return for ``exc`` itself to be raised."""
    error: BaseException = exc
    if item.conflict is not None and isinstance(exc, psycopg.IntegrityError):
        error = item.conflict(str(exc).splitlines()[0])
    if item.owner is not None and not dbapi.broken and not dbapi.closed:
        if error is exc:  # as SQLAlchemy would have raised it from the owner's flush
            error = DBAPIError.instance(item.sql, item.params, exc, psycopg.Error)
        earlier = Earlier(item.owner, error)
        dbapi.__dict__[_LOST] = earlier
        raise earlier from None
    if error is not exc:
        raise error from None


_TRANSFORMER = "kinko_transformer"  # attribute of a psycopg connection: (_round_trip)


def _wait(pg: Any, events: int) -> None:
    """Until the connection's socket is ready for ``events`` (``select.POLLIN``/``OUT``),
    the thread's hold on the interpreter released meanwhile."""
    poller = select.poll()
    poller.register(pg.socket, events)
    poller.poll()


def _round_trip(dbapi: Any, items: Sequence[tuple[str, Any, bool]]) -> tuple[list[Any], int]:
    """Each of ``items`` (text, parameters, ``planned``: never prepared) sent on the
    connection in one round trip through libpq's pipeline mode directly, and their results
    in order: psycopg's own pipeline costs about five times the CPU (a flush, a wait and a
    result's processing for each statement), which a write unit pays under the writers'
    lock. Statements are prepared as psycopg prepares them, in its own books (its
    ``PrepareManager``: its maintenance, such as the ``DEALLOCATE ALL`` it sends after a
    rollback, goes first). Returns the results of the items before the first that failed,
    that one's (its error), and its index (``len(items)``: none failed); the items after it
    were not run."""
    tx = dbapi.__dict__.get(_TRANSFORMER)
    if tx is None:
        tx = dbapi.__dict__[_TRANSFORMER] = Transformer(dbapi)
    pg = dbapi.pgconn
    books = dbapi._prepared
    converted = []  # all parameters dumped before anything is sent (one may be refused)
    for sql, params, planned in items:
        query = PostgresQuery(tx)
        query.convert(sql, params)
        converted.append((query, planned))
    # per command sent: the item it is for (None: psycopg's maintenance), and for an
    # execution what psycopg's books check its result with (else None)
    commands: list[tuple[int | None, bool, Any]] = []
    pg.enter_pipeline_mode()
    try:
        while books._to_flush:
            name = books._to_flush.popleft()
            pg.send_query_params(b"DEALLOCATE ALL" if name is None else b"DEALLOCATE " + name,
                                 None)
            commands.append((None, False, None))
        for i, (query, planned) in enumerate(converted):
            prep, name = books.get(query, False if planned else None)
            if prep is Prepare.SHOULD:
                pg.send_prepare(name, query.query, param_types=query.types)
                commands.append((i, False, None))
            if prep is Prepare.NO:
                pg.send_query_params(query.query, query.params, param_types=query.types,
                                     param_formats=query.formats)
            else:
                pg.send_query_prepared(name, query.params, param_formats=query.formats)
            key = books.maybe_add_to_cache(query, prep, name)
            commands.append((i, True, None if key is None else (key, prep, name)))
        pg.pipeline_sync()
        while pg.flush():
            _wait(pg, select.POLLOUT)
        results: list[Any] = []
        failed = len(items)
        for item, executes, check in commands:
            result = _next_result(pg)
            while _next_result(pg) is not None:  # each command's results end with a None
                pass
            if check is not None:  # not prepared unless it ran (else forgotten)
                books.validate(*check, [result])
            if result.status == pq.ExecStatus.FATAL_ERROR and failed == len(items):
                failed = 0 if item is None else item  # maintenance: before the first
                results = [*results[:failed], result]  # its error
            elif executes and failed == len(items):
                results.append(result)
        while _next_result(pg).status != pq.ExecStatus.PIPELINE_SYNC:
            pass
        return results, failed
    finally:
        with suppress(psycopg.Error):
            pg.exit_pipeline_mode()


def _next_result(pg: Any) -> Any:
    """The connection's next result (None: the end of a statement's), waiting for it with
    the interpreter released."""
    while pg.is_busy():
        _wait(pg, select.POLLIN)
        pg.consume_input()
    return pg.get_result()


class Cursor(psycopg.Cursor[Any]):
    """psycopg's cursor, which first sends what was deferred on its connection, in the same
    round trip as its own statement (a pipeline: each statement keeps its own result, and
    the first that fails raises, the rest are not run)."""

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None,
                binary: bool | None = None) -> Cursor:
        held: list[_Held] | None = self.connection.__dict__.pop(_HELD, None)
        if not held:
            return super().execute(query, params, prepare=prepare, binary=binary)
        _send(self.connection, held,
              lambda: super(Cursor, self).execute(query, params, prepare=prepare,
                                                  binary=binary))
        return self

    def executemany(self, query: Any, params_seq: Any, *, returning: bool = False) -> None:
        held: list[_Held] | None = self.connection.__dict__.pop(_HELD, None)
        if held:
            _send(self.connection, held)
        super().executemany(query, params_seq, returning=returning)


class ArrayText(ListDumper):
    """A list parameter of strings, integers and None (every array kinko sends: a column
    of rows inserted through ``unnest``, keys compared with ``= ANY``) written as
    PostgreSQL's array literal in a few string operations, its type left to the statement
    (each casts it, or compares it with a column); psycopg's own dumper looks up a dumper
    per element and escapes each with a regular expression, about twice the time, under
    the writers' lock. Lists of anything else are psycopg's."""

    def get_key(self, obj: list[Any], format: PyFormat) -> Any:
        # a key of its own: the key ``list`` itself would make psycopg keep this dumper
        # (whose ``dump`` is psycopg's) instead of asking ``upgrade`` for the plain one
        return _PlainArray if _plain(obj) else super().get_key(obj, format)

    def upgrade(self, obj: list[Any], format: PyFormat) -> Any:
        return _PLAIN if _plain(obj) else super().upgrade(obj, format)


class _PlainArray(ListDumper):
    oid = 0  # unknown: the statement's cast or comparison gives the type

    def dump(self, obj: list[Any]) -> bytes:
        parts = []
        for value in obj:
            if value is None:
                parts.append("NULL")
            elif type(value) is int:
                parts.append(str(value))
            else:  # in double quotes: only a double quote and a backslash are escaped
                parts.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        return ("{" + ",".join(parts) + "}").encode()


_PLAIN = _PlainArray(list)


def _plain(obj: list[Any]) -> bool:
    return all(value is None or type(value) is str or type(value) is int for value in obj)


def plain_arrays(dbapi_connection: Any) -> None:
    """List parameters on this psycopg connection written by :class:`ArrayText`. Where the
    installed psycopg lacks what the direct pipeline uses, the first connection says so
    in the log (held statements then travel in psycopg's own, slower pipeline)."""
    dbapi_connection.adapters.register_dumper(list, ArrayText)
    if PostgresQuery is None:
        _say_without_direct_pipeline()


@cache
def _say_without_direct_pipeline() -> None:
    """Once a process: the direct pipeline is unavailable with the installed psycopg."""
    log.warning("psycopg %s lacks the statement conversion kinko's direct pipeline uses: "
                "held statements go through psycopg's own pipeline, which costs more CPU "
                "under the writers' lock", psycopg.__version__)


def _driver(conn: Connection) -> Any:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    return dbapi


def begin(conn: Connection) -> None:
    """PostgreSQL, as SQLAlchemy begins a transaction on ``conn``: its ``BEGIN`` is held,
    sent with the first statement (see the module docstring); the isolation level,
    read-only and deferrable modes SQLAlchemy set on the driver's connection are kept."""
    dbapi = _driver(conn)
    if not dbapi.autocommit:  # psycopg sends no BEGIN of its own from now on
        dbapi.autocommit = True
    words = ["BEGIN"]
    if dbapi.isolation_level is not None:
        words.append(f"ISOLATION LEVEL {dbapi.isolation_level.name.replace('_', ' ')}")
    if dbapi.read_only is not None:
        words.append("READ ONLY" if dbapi.read_only else "READ WRITE")
    if dbapi.deferrable is not None:
        words.append("DEFERRABLE" if dbapi.deferrable else "NOT DEFERRABLE")
    # what a transaction before it held and never sent was never begun either
    dbapi.__dict__[_HELD] = [_Held(" ".join(words), None, None, droppable=True)]


def defer(conn: Connection, sql: str, params: Any = None, *,
          conflict: Callable[[str], KinkoError] | None = None, droppable: bool = False) -> None:
    """``sql`` with ``params`` (a statement whose rows and count nobody reads) sent with
    the next statement on ``conn``, in its round trip, on PostgreSQL, or by :func:`flush`;
    at once on SQLite (no round trips there), and while anyone listens to the engine's
    statements (so that they see it). ``conflict``: the error it raises if it fails on a
    constraint (else SQLAlchemy's ``IntegrityError``); ``droppable``: :func:`finish` may
    drop it if nothing follows it."""
    if conn.dialect.name != "postgresql" or watched(conn):
        try:
            run(conn, sql, params if params is not None else ())
        except IntegrityError as exc:
            if conflict is None:
                raise
            raise conflict(str(exc.orig).splitlines()[0]) from None
        return
    dbapi = _driver(conn)
    item = _Held(sql, params, conflict, droppable)
    held: list[_Held] | None = dbapi.__dict__.get(_HELD)
    if held is None:
        dbapi.__dict__[_HELD] = [item]
    else:
        held.append(item)


def flush(conn: Connection) -> None:
    """Send what is held on ``conn`` now (one round trip), its errors raised here."""
    if conn.dialect.name != "postgresql" or conn.invalidated or conn.closed:
        return
    dbapi = _driver(conn)
    held: list[_Held] | None = dbapi.__dict__.pop(_HELD, None)
    if not held:
        return
    try:
        if PostgresQuery is None:
            _send(dbapi, held)
        else:
            _sent_with(dbapi, held, None)
    except (KinkoError, Earlier):  # a held statement's own conflict error, or a finished part's
        raise
    except BaseException as exc:
        conn._handle_dbapi_exception(exc, held[-1].sql, held[-1].params, None, None)
        raise  # not reached: the handling above raises


def _sent_with(dbapi: Any, held: list[_Held], last: tuple[str, Any, bool] | None
               ) -> Rows | None:
    """The held statements and ``last`` (text, parameters, ``planned``) in one round trip
    (:func:`_round_trip`), and the rows ``last`` returned. A held statement that fails
    raises as :func:`_raise_held` says (else the driver's error), and so does ``last``."""
    items = [(item.sql, item.params, False) for item in held]
    if last is not None:
        items.append(last)
    results, failed = _round_trip(dbapi, items)
    if failed < len(items):
        exc = psycopg.errors.error_from_result(results[failed], encoding=dbapi.info.encoding)
        if failed < len(held):
            _raise_held(dbapi, held[failed], exc)
        raise exc
    if last is None:
        return None
    result = results[-1]
    rows: list[Any] = []
    if result.status == pq.ExecStatus.TUPLES_OK:
        tx = dbapi.__dict__[_TRANSFORMER]
        tx.set_pgresult(result)
        rows = tx.load_rows(0, result.ntuples, tuple)
    count = result.command_tuples
    return Rows(rows, -1 if count is None else count)


def finish(conn: Connection) -> None:
    """Before the transaction on ``conn`` commits: what is held is sent, unless it is only
    what the commit does anyway (savepoints' releases), which is dropped."""
    if conn.dialect.name != "postgresql" or conn.invalidated or conn.closed:
        return
    held: list[_Held] | None = _driver(conn).__dict__.get(_HELD)
    if held and not all(item.droppable for item in held):
        flush(conn)
    else:
        forget(_driver(conn))


def withdraw(conn: Connection, sql: str) -> bool:
    """Forget what was held on ``conn`` since ``sql`` (a savepoint: what came after it is
    to be undone anyway), ``sql`` too if it was not sent yet: whether it was not (then
    nothing is left to undo on the server)."""
    if conn.dialect.name != "postgresql" or conn.invalidated or conn.closed:
        return False
    held: list[_Held] = _driver(conn).__dict__.get(_HELD) or []
    for i, item in enumerate(held):
        if item.sql == sql:
            del held[i:]
            return True
    held.clear()  # sent already: all that is held came after it
    return False


def owned(conn: Connection, owner: object) -> bool:
    """What is held on ``conn`` now, not owned yet, becomes ``owner``'s (a finished part of
    the transaction, such as a write unit of a batch, whose writes then travel with a later
    statement): if one of them fails there, that statement raises :class:`Earlier` instead
    of its own error (see :func:`lost`). Whether any write is held (nothing to own on
    SQLite or while statements are watched: they were sent at once)."""
    if conn.dialect.name != "postgresql" or conn.invalidated or conn.closed:
        return False
    held: list[_Held] | None = _driver(conn).__dict__.get(_HELD)
    if not held or all(item.droppable for item in held):
        return False
    for item in held:
        if item.owner is None:
            item.owner = owner
    return True


def lost(conn: Connection) -> Earlier | None:
    """The :class:`Earlier` failure raised on ``conn`` since the last call, if any (also
    when whoever the statement was sent for caught it), and forget it."""
    if conn.dialect.name != "postgresql" or conn.invalidated or conn.closed:
        return None
    earlier: Earlier | None = _driver(conn).__dict__.pop(_LOST, None)
    return earlier


def failed(conn: Connection) -> bool:
    """Whether a statement failed in the transaction open on ``conn`` and was not undone
    (PostgreSQL then answers a COMMIT with a rollback, which psycopg does not raise)."""
    if conn.dialect.name != "postgresql" or conn.invalidated or conn.closed:
        return False
    status = _driver(conn).info.transaction_status
    return bool(status == psycopg.pq.TransactionStatus.INERROR)


def forget(dbapi_connection: Any) -> None:
    """Drop what is held on a driver connection (its transaction ends)."""
    dbapi_connection.__dict__.pop(_HELD, None)
    dbapi_connection.__dict__.pop(_LOST, None)


def run(conn: Connection, sql: str, params: Any = (), *, planned: bool = False) -> Rows:
    """``sql`` with ``params`` on ``conn``'s open transaction: a tuple of parameters, or a
    list of tuples (one statement, each row of parameters: ``executemany``). ``planned``:
    PostgreSQL plans the statement for these parameters each time, never as a prepared
    statement (whose plan, made for any parameters, may not fit a value far from the
    usual, such as a customer with few rows beside one with most of them)."""
    many = isinstance(params, list)
    if watched(conn) or (many and not params):
        result = conn.exec_driver_sql(sql, params)
        return Rows(result.all() if result.returns_rows else [], result.rowcount)
    if not many and PostgresQuery is not None and conn.dialect.name == "postgresql":
        dbapi = _driver(conn)
        held: list[_Held] | None = dbapi.__dict__.pop(_HELD, None)
        if held:  # with what is held, in one round trip of libpq's pipeline directly
            try:
                sent = _sent_with(dbapi, held, (sql, params, planned))
                assert sent is not None
                return sent
            except (KinkoError, Earlier):  # a statement held before this one failed
                raise
            except BaseException as exc:
                conn._handle_dbapi_exception(exc, sql, params, None, None)
                raise  # not reached: the handling above raises
    cursor = _driver(conn).cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        elif planned and conn.dialect.name == "postgresql":
            cursor.execute(sql, params, prepare=False)
        else:
            cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description is not None else []
        return Rows(rows, cursor.rowcount)
    except (KinkoError, Earlier):  # a statement held before this one failed
        raise
    except BaseException as exc:
        conn._handle_dbapi_exception(exc, sql, params, cursor, None)
        raise  # not reached: the handling above raises
    finally:
        cursor.close()


def run_all(conn: Connection, statements: Sequence[tuple[str, Any]]) -> list[Rows]:
    """Each of ``statements`` (text and a tuple of parameters) on ``conn``'s open
    transaction, one after the other, and the rows of each: on PostgreSQL in one round
    trip with what is held (a pipeline: the first that fails raises, the rest are not
    run), one at a time elsewhere and while anyone listens to the engine's statements."""
    if conn.dialect.name != "postgresql" or watched(conn) or not statements:
        return [run(conn, sql, params) for sql, params in statements]
    dbapi = _driver(conn)
    held: list[_Held] = dbapi.__dict__.pop(_HELD, None) or []
    cursors = [psycopg.Cursor(dbapi) for _ in statements]

    def send() -> None:
        for cursor, (sql, params) in zip(cursors, statements, strict=True):
            cursor.execute(sql, params)

    try:
        _send(dbapi, held, send)
        return [Rows(cursor.fetchall() if cursor.description is not None else [],
                     cursor.rowcount) for cursor in cursors]
    except (KinkoError, Earlier):  # a statement held before these failed
        raise
    except BaseException as exc:
        failed_at = next((sql for cursor, (sql, _) in zip(cursors, statements, strict=True)
                          if cursor.pgresult is None), statements[-1][0])
        conn._handle_dbapi_exception(exc, failed_at, None, None, None)
        raise  # not reached: the handling above raises
    finally:
        for cursor in cursors:
            cursor.close()
