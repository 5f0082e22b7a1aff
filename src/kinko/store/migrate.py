"""Schema migrations with Alembic, run programmatically (no ``alembic.ini`` to find).

``upgrade(store)`` brings a database to the newest schema; ``check_current(store)`` tells
whether it is there, so commands refuse an uninitialised or outdated database with a clear
"run `kinko init`" instead of failing on a missing table.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from kinko.errors import StoreUnavailable
from kinko.store.sql import SqlStore, redact

__all__ = ["check_current", "head_revision", "upgrade"]


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "kinko.store:migrations")
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return str(head)


def upgrade(store: SqlStore) -> str:
    """Apply every pending migration; return the revision the database is now at."""
    cfg = _config()
    try:
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StoreUnavailable(
            f"cannot migrate the database at {redact(str(store.engine.url))}: "
            f"{str(exc.orig).splitlines()[0]}"
        ) from None
    return head_revision()


def current_revision(store: SqlStore) -> str | None:
    try:
        with store.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StoreUnavailable(
            f"database at {redact(str(store.engine.url))} is unavailable: "
            f"{str(exc.orig).splitlines()[0]}"
        ) from None


def check_current(store: SqlStore) -> None:
    """Raise :class:`StoreUnavailable` unless the schema is at the newest revision."""
    current = current_revision(store)
    head = head_revision()
    if current is None:
        raise StoreUnavailable(
            f"the database at {redact(str(store.engine.url))} is not initialised: run `kinko init`"
        )
    if current != head:
        raise StoreUnavailable(
            f"the database schema is at revision {current}, kinko needs {head}: run `kinko init` "
            "to migrate"
        )
