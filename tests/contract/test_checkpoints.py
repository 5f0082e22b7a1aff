"""SQLite's WAL checkpointed by the store's own thread (:mod:`kinko.store.checkpoint`), not
by a batch's commit: the store's connections checkpoint themselves only past a bound, the
thread copies the log into the database file after commits, a checkpoint that fails is
tried again, and closing the store stops the thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kinko.domain.ledger import Posting
from kinko.services.ledger import Ledger
from kinko.store import SqlStore, open_store
from kinko.store.checkpoint import SAFETY_PAGES, Checkpointer


def _until(test: Callable[[], bool], seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while not test():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kinko-checkpoint"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_log_is_copied_by_the_stores_own_thread(ledger: Ledger, store: SqlStore,
                                                    store_url: str) -> None:
    path = store_url.removeprefix("sqlite:///")
    with store.engine.connect() as conn:
        page = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert page == SAFETY_PAGES  # a commit no longer checkpoints at SQLite's 1,000 pages
    for i in range(30):
        ledger.post(f"e{i}", [Posting("wallet:xem-hot", "XEM", 5),
                              Posting("customer:a", "XEM", -5)], source="t")
    assert _until(lambda: store.group_commit()["checkpoints"] >= 1)
    assert store.group_commit()["log_pages"] > 0
    assert store.group_commit()["checkpoints_failed"] == 0
    other = sqlite3.connect(path)
    try:
        # every page the commits logged is in the database file: nothing left to copy
        def copied() -> bool:
            _busy, logged, done = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return bool(logged == done)
        assert _until(copied)
    finally:
        other.close()
    assert ledger.balance("customer:a", "XEM") == 150  # a liability, shown as owed
    assert ledger.verify().ok


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_closing_the_store_stops_its_thread(ledger: Ledger, store: SqlStore) -> None:
    ledger.post("one", [Posting("wallet:xem-hot", "XEM", 5),
                        Posting("customer:a", "XEM", -5)], source="t")
    running = len(_checkpoint_threads())
    assert running >= 1  # begun with the store's first commit
    store.close()
    assert len(_checkpoint_threads()) == running - 1


def test_an_in_memory_database_has_no_checkpoints() -> None:
    store = open_store("sqlite://")
    try:
        assert "checkpoints" not in store.group_commit()
    finally:
        store.close()


def test_a_failed_checkpoint_is_tried_again(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    made: list[Any] = []

    def connect() -> Any:
        made.append(1)
        if len(made) == 1:
            raise sqlite3.OperationalError("unable to open database file")
        return sqlite3.connect(path, check_same_thread=False)

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x INTEGER)")
    checkpointer = Checkpointer(connect, interval=0.01)
    try:
        db.execute("INSERT INTO t VALUES (1)")
        checkpointer.committed()
        assert _until(lambda: checkpointer.failures == 1)
        db.execute("INSERT INTO t VALUES (2)")
        checkpointer.committed()
        assert _until(lambda: checkpointer.runs == 1)
        assert len(made) == 2  # a new connection after the failure
    finally:
        checkpointer.close()
        db.close()
    checkpointer.committed()  # closed: starts nothing again
    assert checkpointer.runs == 1 and not _checkpoint_threads()
