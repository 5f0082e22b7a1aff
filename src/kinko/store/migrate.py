"""Schema migrations with Alembic, run programmatically (no ``alembic.ini`` to find).

``upgrade(store)`` brings a database to the newest schema; ``check_current(store)`` tells
whether it is there, so commands refuse an uninitialised or outdated database with a clear
"run `kinko init`" instead of failing on a missing table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from kinko.domain.messages import msg
from kinko.errors import StoreUnavailable
from kinko.store.sql import SqlStore
from kinko.store.values import redact

__all__ = ["HEAD", "check_current", "head_revision", "upgrade"]

# the newest migration; every command checks the database is at it, without loading Alembic
# (a test keeps this equal to Alembic's own head)
HEAD = "0020"


def _config() -> Any:
    from alembic.config import Config  # Alembic only when migrating: it is slow to import

    cfg = Config()
    cfg.set_main_option("script_location", "kinko.store:migrations")
    return cfg


def head_revision() -> str:
    """The newest revision, as Alembic finds it in the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return str(head)


def upgrade(store: SqlStore) -> str:
    """Apply every pending migration; return the revision the database is now at."""
    from alembic import command

    cfg = _config()
    try:
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0]
        raise StoreUnavailable(
            f"cannot migrate the database at {redact(str(store.engine.url))}: {reason}",
            says=msg("error.store.cannot_migrate", url=redact(str(store.engine.url))[:200],
                     reason=reason[:200]),
        ) from None
    return head_revision()


def current_revision(store: SqlStore) -> str | None:
    try:
        with store.engine.connect() as conn:
            try:
                row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            except (OperationalError, ProgrammingError) as exc:
                if "alembic_version" in str(exc.orig):  # no such table: never initialised
                    return None
                raise
            return None if row is None else str(row[0])
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0]
        raise StoreUnavailable(
            f"database at {redact(str(store.engine.url))} is unavailable: {reason}",
            says=msg("error.store.unavailable", url=redact(str(store.engine.url))[:200],
                     reason=reason[:200]),
        ) from None


def check_current(store: SqlStore) -> None:
    """Raise :class:`StoreUnavailable` unless the schema is at the newest revision."""
    current = current_revision(store)
    head = HEAD
    if current is None:
        raise StoreUnavailable(
            f"the database at {redact(str(store.engine.url))} is not initialised: run `kinko init`",
            says=msg("error.store.not_initialised", url=redact(str(store.engine.url))[:200]),
        )
    if current != head:
        raise StoreUnavailable(
            f"the database schema is at revision {current}, kinko needs {head}: run `kinko init` "
            "to migrate",
            says=msg("error.store.schema_behind", current=current[:40], head=head),
        )
