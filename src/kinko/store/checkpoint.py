"""SQLite's WAL checkpoints in a thread of their own, not in a commit.

In WAL mode a commit appends its pages to the write-ahead log; a *checkpoint* copies them back
into the database file (and syncs both). By default SQLite runs one inside the commit that
takes the log past 1,000 pages, so now and then one batch of writers waits tens of
milliseconds for it, and every request queued behind that batch with it. Here the store's
connections checkpoint themselves only past :data:`SAFETY_PAGES` (a bound on the log should
this thread fall behind or stop), and :class:`Checkpointer` runs a ``PASSIVE`` checkpoint at
most every :data:`INTERVAL` seconds while commits come, on a connection of its own: it copies
what no reader still needs without taking the write lock, so writers and readers go on
meanwhile, and SQLite starts the log again from its beginning once all of it was copied.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["INTERVAL", "SAFETY_PAGES", "Checkpointer"]

INTERVAL = 0.1  # seconds between checkpoints while commits come
SAFETY_PAGES = 10_000  # the log's pages past which a commit checkpoints (wal_autocheckpoint)


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` in a daemon thread after commits
    (:meth:`committed`), at most every ``interval`` seconds, on a connection ``connect``
    makes (a driver connection of its own, never the pool's). It starts with the first
    commit, and :meth:`close` stops it."""

    def __init__(self, connect: Callable[[], Any], interval: float = INTERVAL) -> None:
        self._connect = connect
        self.interval = interval
        self._due = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.runs = 0  # checkpoints run
        self.largest = 0  # the most pages the log held when a checkpoint began
        self.failures = 0  # checkpoints that raised (the next one tries again)

    def committed(self) -> None:
        """A commit added to the log: a checkpoint is due."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closing.is_set():
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="kinko-checkpoint")
                    self._thread.start()
        self._due.set()

    def close(self) -> None:
        """Stop the thread (after the checkpoint under way, if any) and close its
        connection."""
        with self._lock:
            self._closing.set()
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn: Any = None
        try:
            while True:
                self._due.wait()
                # the commits of the next interval join this checkpoint
                if self._closing.wait(self.interval):
                    return
                self._due.clear()
                try:
                    if conn is None:
                        conn = self._connect()
                    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    self.failures += 1
                    if conn is not None:
                        conn.close()
                    conn = None
                    continue
                self.runs += 1
                if row is not None and row[1] is not None:  # (busy, log's pages, copied)
                    self.largest = max(self.largest, int(row[1]))
        finally:
            if conn is not None:
                conn.close()
