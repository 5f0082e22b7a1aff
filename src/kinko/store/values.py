"""How the store writes values SQL has no exact type for, and names its database.

Times are exact integer microseconds since the Unix epoch (no float on the way, the same in
SQLite and PostgreSQL); a database URL is normalised to the psycopg 3 driver and shown only
without its password. Every ``*_sql`` module and :mod:`kinko.store.sql` use these, so no
table module needs the store's engine module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import URL, make_url

__all__ = ["from_us", "missing_sqlite_file", "normalise_url", "redact", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(ts: datetime) -> int:
    """Exact integer microseconds since the epoch (no float on the way)."""
    return (ts - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


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
