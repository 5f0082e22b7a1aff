"""How the store writes values SQL has no exact type for, and names its database.

Times are exact integer microseconds since the Unix epoch (no float on the way, the same in
SQLite and PostgreSQL); a database URL is normalised to the psycopg 3 driver and shown only
without its password. Every ``*_sql`` module and :mod:`kinko.store.sql` use these, so no
table module needs the store's engine module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from kinko.domain.messages import msg, value_shown
from kinko.errors import StoredValueInvalid

__all__ = ["from_us", "missing_row", "missing_sqlite_file", "normalise_url", "redact", "stored_int",
           "stored_text", "stored_time", "to_us", "unreadable"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(ts: datetime) -> int:
    """Exact integer microseconds since the epoch (no float on the way)."""
    return (ts - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def unreadable(table: str, column: str, row: object, value: Any,
               seq: int | None = None) -> StoredValueInvalid:
    """The error for ``value``, read from ``table``.``column`` of the row keyed ``row``,
    which kinko never writes there (SQLite keeps whatever an ``UPDATE`` outside kinko wrote:
    text in a number's column, bytes in a text's)."""
    where = f"{table}.{column}"
    text = value_shown(value)
    key = value_shown(row)
    return StoredValueInvalid(
        f"{where} of row {key} holds {text}, which kinko never writes there: the database "
        "was altered outside kinko", seq=seq, table=table, column=column, row=key,
        says=msg("error.stored.value", column=where, row=key, value=text))


def missing_row(table: str, row: object) -> StoredValueInvalid:
    """The error for the row keyed ``row`` of ``table``, which kinko writes once and never
    deletes, not being there."""
    key = value_shown(row)
    return StoredValueInvalid(
        f"{table} has no row {key}, which kinko never deletes: the database was altered "
        "outside kinko", table=table, row=key,
        says=msg("error.stored.row_missing", table=table, row=key))


def stored_int(value: Any, table: str, column: str, row: object,
               seq: int | None = None) -> int:
    """An integer read back from ``table``.``column``; anything else (text, a fraction,
    bytes) is :func:`unreadable`."""
    if type(value) is int:
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise unreadable(table, column, row, value, seq)


def stored_time(value: Any, table: str, column: str, row: object,
                seq: int | None = None) -> datetime:
    """A time read back from ``table``.``column`` (integer microseconds since the epoch);
    anything else, or one no date can hold, is :func:`unreadable`."""
    try:
        return from_us(stored_int(value, table, column, row, seq))
    except OverflowError:
        raise unreadable(table, column, row, value, seq) from None


def stored_text(value: Any, table: str, column: str, row: object,
                seq: int | None = None) -> str:
    """Text read back from ``table``.``column``; bytes (a BLOB) are :func:`unreadable`."""
    if type(value) is str:
        return value
    raise unreadable(table, column, row, value, seq)


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def missing_sqlite_file(url: str | URL) -> bool:
    """Whether ``url`` names an SQLite file that is not there (opening it creates it, empty);
    False for any other URL, one that is not valid, an in-memory database or a URI name."""
    try:
        parsed = make_url(normalise_url(url) if isinstance(url, str) else url)
    except Exception:
        return False
    name = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and name not in ("", ":memory:") \
        and not name.startswith("file:") and not Path(name).exists()
