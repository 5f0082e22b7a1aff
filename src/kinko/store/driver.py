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

:func:`defer` holds a statement without parameters or rows (a savepoint taken or released)
until the next statement on the same connection, and sends both in one round trip
(psycopg's pipeline mode: :class:`Cursor`, every PostgreSQL connection's cursor): under the
writers' lock each round trip is time every other writer waits. What is still held when the
transaction ends is what the transaction's end does anyway (a release before a commit or a
rollback): :func:`forget` drops it, and a connection put back in its pool holds nothing.
A statement held and forgotten before it was sent (:func:`withdraw`) needs no round trip at
all: a savepoint a unit took before a failure that came before any statement of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import MultipleResultsFound, NoResultFound

__all__ = ["Cursor", "Rows", "defer", "forget", "run", "withdraw"]

_HELD = "kinko_held"  # attribute of a psycopg connection: the statements deferred on it


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


def _watched(conn: Connection) -> bool:
    """Whether anyone listens to the engine's statement events."""
    dispatch = conn.dispatch
    return bool(dispatch.before_cursor_execute) or bool(dispatch.after_cursor_execute)


class Cursor(psycopg.Cursor[Any]):
    """psycopg's cursor, which first sends what was deferred on its connection, in the same
    round trip as its own statement (a pipeline: each statement keeps its own result, and
    the first that fails raises, the rest are not run)."""

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None,
                binary: bool | None = None) -> Cursor:
        conn = self.connection
        held: list[str] | None = conn.__dict__.pop(_HELD, None)
        if not held:
            return super().execute(query, params, prepare=prepare, binary=binary)
        with conn.pipeline():
            with psycopg.Cursor(conn) as first:
                for sql in held:
                    first.execute(sql)
            super().execute(query, params, prepare=prepare, binary=binary)
        return self

    def executemany(self, query: Any, params_seq: Any, *, returning: bool = False) -> None:
        held: list[str] | None = self.connection.__dict__.pop(_HELD, None)
        if held:
            with psycopg.Cursor(self.connection) as first:
                for sql in held:
                    first.execute(sql)
        super().executemany(query, params_seq, returning=returning)


def _driver(conn: Connection) -> Any:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    return dbapi


def defer(conn: Connection, sql: str) -> None:
    """``sql`` (no parameters, no rows) sent with the next statement on ``conn``, in its
    round trip, on PostgreSQL; at once on SQLite (no round trips there), and while anyone
    listens to the engine's statements (so that they see it)."""
    if conn.dialect.name != "postgresql" or _watched(conn):
        run(conn, sql)
        return
    dbapi = _driver(conn)
    held: list[str] | None = dbapi.__dict__.get(_HELD)
    if held is None:
        dbapi.__dict__[_HELD] = [sql]
    else:
        held.append(sql)


def withdraw(conn: Connection, sql: str) -> bool:
    """Forget ``sql`` if it is still held (not sent yet): whether it was."""
    if conn.dialect.name != "postgresql" or conn.invalidated or conn.closed:
        return False
    held: list[str] | None = _driver(conn).__dict__.get(_HELD)
    if held and sql in held:
        held.remove(sql)
        return True
    return False


def forget(dbapi_connection: Any) -> None:
    """Drop what is held on a driver connection (its transaction ends: a commit or a
    rollback does what a held release would)."""
    dbapi_connection.__dict__.pop(_HELD, None)


def run(conn: Connection, sql: str, params: Any = ()) -> Rows:
    """``sql`` with ``params`` on ``conn``'s open transaction: a tuple of parameters, or a
    list of tuples (one statement, each row of parameters: ``executemany``)."""
    many = isinstance(params, list)
    if _watched(conn) or (many and not params):
        result = conn.exec_driver_sql(sql, params)
        return Rows(result.all() if result.returns_rows else [], result.rowcount)
    cursor = _driver(conn).cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description is not None else []
        return Rows(rows, cursor.rowcount)
    except BaseException as exc:
        conn._handle_dbapi_exception(exc, sql, params, cursor, None)
        raise  # not reached: the handling above raises
    finally:
        cursor.close()
