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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import MultipleResultsFound, NoResultFound

__all__ = ["Rows", "run"]


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


def run(conn: Connection, sql: str, params: Any = ()) -> Rows:
    """``sql`` with ``params`` on ``conn``'s open transaction: a tuple of parameters, or a
    list of tuples (one statement, each row of parameters: ``executemany``)."""
    many = isinstance(params, list)
    if _watched(conn) or (many and not params):
        result = conn.exec_driver_sql(sql, params)
        return Rows(result.all() if result.returns_rows else [], result.rowcount)
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
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
