"""A SQLite database migrated once per test process, copied for each test that needs a fresh
one: running every migration for every test took most of a store fixture's time.

``migrated_sqlite(path)`` writes at ``path`` a copy of a database that ``upgrade`` brought
to the newest schema (nothing else in it) and returns its URL; ``migrated_store(path)``
opens it. The copy is exactly what ``open_store`` and ``upgrade`` make of a new file: the
template is made by them, in this process, from the migrations in this checkout. Tests of
the migrations themselves (upgrading from an older revision, ``kinko init`` on a new file)
still run them.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from pathlib import Path

from kinko.store import SqlStore, open_store, upgrade

__all__ = ["initialised_sqlite", "migrated_sqlite", "migrated_store"]

_template: Path | None = None


def _make_template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kinko-schema-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "template.db"
    store = open_store(f"sqlite:///{path}")
    try:
        upgrade(store)
    finally:
        store.close()
    # one self-contained file: the write-ahead log folded in and removed (every store
    # opened on a copy sets WAL again when it connects)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    return path


def migrated_sqlite(path: Path) -> str:
    """A new database at ``path`` (which must not exist) at the newest schema; its URL."""
    global _template
    if _template is None:
        _template = _make_template()
    if path.exists():
        raise FileExistsError(f"{path} exists: a migrated copy is only made as a new file")
    shutil.copyfile(_template, path)
    return f"sqlite:///{path}"


def initialised_sqlite(path: Path) -> str:
    """What ``kinko init`` makes of a new file with the default settings (the newest schema,
    the shipped assets recorded), without a process of its own to start: its URL. For the
    tests whose subject is a server or a command started afterwards; ``kinko init`` itself
    is tested as an operator runs it."""
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.ledger import Ledger

    url = migrated_sqlite(path)
    store = open_store(url)
    try:
        Ledger(store, SystemClock(), AssetRegistry.default()).sync_assets()
    finally:
        store.close()
    return url


def migrated_store(path: Path) -> SqlStore:
    """``open_store`` on the database at ``path``, at the newest schema: a new one is a copy
    of the template; one that exists (opened again by the same test) is upgraded."""
    if path.exists():
        store = open_store(f"sqlite:///{path}")
        upgrade(store)
        return store
    return open_store(migrated_sqlite(path))
