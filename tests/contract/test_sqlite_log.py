"""SQLite's log copied into the database by the store that writes on the event loop
(``kinko.store.wal``): its connections never copy it inside a commit; the store copies it
after a commit, once the batch's requests were told and before the next batch begins, so the
log is written again from its beginning instead of growing; a copy that fails loses nothing.
A store whose commits wait for the disk keeps SQLite's own copying."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dbtemplate import migrated_sqlite

from kinko.domain.ledger import Posting
from kinko.services.ledger import Ledger
from kinko.store import SqlStore, open_store
from kinko.store.wal import LogCopier


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """A store whose commits do not wait for the disk: the kind that copies its log."""
    migrated_sqlite(Path(store_url.removeprefix("sqlite:///")))
    s = open_store(store_url, sqlite_synchronous="NORMAL")
    yield s
    s.close()


def _pay(ledger: Ledger, key: str) -> Callable[[], str]:
    def work() -> str:
        ledger.post(key, [Posting("customer:a", "XEM", 1),
                          Posting("wallet:xem-hot", "XEM", -1)], source="t")
        return key
    return work


def _fund(ledger: Ledger) -> None:
    ledger.post("fund", [Posting("wallet:xem-hot", "XEM", 10**6),
                         Posting("customer:a", "XEM", -10**6)], source="t")


def _log_size(store_url: str) -> int:
    return Path(store_url.removeprefix("sqlite:///") + "-wal").stat().st_size


def _page_size(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())


def _autocheckpoint(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_store_copies_its_log_and_sqlite_does_not_inside_its_commits(
        store: SqlStore, store_url: str) -> None:
    assert _autocheckpoint(store) == 0
    full = open_store(store_url)  # commits that wait for the disk: SQLite's own copying
    try:
        assert _autocheckpoint(full) == 1000
    finally:
        full.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_log_copied_after_commits_is_written_again_from_its_beginning(
        ledger: Ledger, store: SqlStore, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LogCopier, "EVERY", 0.0)  # copied after every commit
    _fund(ledger)
    for i in range(10):
        _pay(ledger, f"c-{i}")()
    kept = _log_size(store_url)
    for i in range(10, 120):
        _pay(ledger, f"c-{i}")()
    # each commit wrote it again from its beginning: it never grows past the largest batch
    # written since (a commit that splits a page writes a frame or two more than the first
    # ten did; copied after no commit, 110 of them would have added more than 100 frames)
    frame = _page_size(store) + 24
    assert _log_size(store_url) <= kept + 4 * frame, (kept, frame)
    assert store._log is not None and store._log.copies >= 120
    monkeypatch.setattr(LogCopier, "EVERY", 3600.0)  # not copied: the log only grows
    for i in range(60):
        _pay(ledger, f"n-{i}")()
    assert _log_size(store_url) > 4 * kept
    assert ledger.balance("customer:a", "XEM") == 10**6 - 180
    assert ledger.verify().ok


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_log_is_copied_once_the_batch_is_told_and_before_the_next_batch(
        ledger: Ledger, store: SqlStore, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fund(ledger)
    monkeypatch.setattr(LogCopier, "EVERY", 0.0)
    returned = threading.Event()
    seen: list[tuple[bool, int]] = []
    real = LogCopier.after_commit

    def copying(self: LogCopier) -> None:
        # the work returned while its batch's log is still to be copied (it waited for the
        # commit only), and nothing began after it meanwhile
        told = returned.wait(5)
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as other:
            written = other.execute("SELECT count(*) FROM entries").fetchone()[0]
        seen.append((told, written))
        real(self)

    monkeypatch.setattr(LogCopier, "after_commit", copying)

    async def run() -> list[str]:
        first = await store.on_loop(_pay(ledger, "first"))
        returned.set()
        return [first, await store.on_loop(_pay(ledger, "second"))]

    assert asyncio.run(run()) == ["first", "second"]
    assert seen[0] == (True, 2)  # the fund's entry and the first's, not yet the second's


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_copy_that_fails_loses_nothing_and_is_tried_again(
        ledger: Ledger, store: SqlStore, store_url: str,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _fund(ledger)
    monkeypatch.setattr(LogCopier, "EVERY", 0.0)
    copier = store._log
    assert copier is not None

    class Broken:
        def raw_connection(self) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    real = copier.engine
    copier.engine = Broken()  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="kinko.store"):
        _pay(ledger, "a")()
        _pay(ledger, "b")()  # the writers' turn was given back
    assert "disk I/O error" in caplog.text
    before = copier.copies
    copier.engine = real
    _pay(ledger, "c")()
    assert copier.copies == before + 1
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as other:
        keys = {k for (k,) in other.execute("SELECT key FROM entries")}
    assert {"a", "b", "c"} <= keys
