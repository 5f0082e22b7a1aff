"""SQLite's write-ahead log, copied into the database by the store that writes it.

SQLite copies its log into the database (a checkpoint) inside whichever commit takes the
log past 1,000 pages: that commit waits for the copy and its disk sync, and with it every
request of a group-commit batch (under steady load about one batch in ten, which was most of
the withdrawal path's 99th percentile). A store that writes on the event loop (SQLite with
``synchronous=NORMAL``) turns that off for its connections and copies the log itself:
after a commit, once the batch's requests were told, with the writers' turn still held (so
that the next writer finds the log copied and writes it again from its beginning: a log
copied while writers go on only grows), at most every ``LogCopier.EVERY`` seconds. What
is left is copied when the store's last connection closes, as SQLite does."""

from __future__ import annotations

import logging
import time
from contextlib import closing

from sqlalchemy import Engine

log = logging.getLogger("kinko.store")


class LogCopier:
    """Copies one SQLite database's log for the store that writes it."""

    EVERY = 0.1  # seconds: at most ten copies, and their disk syncs, a second

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.last = time.monotonic()  # a short-lived process copies only when it closes
        self.copies = 0

    def after_commit(self) -> None:
        """Copy the log if the last copy is ``EVERY`` seconds old (called with the writers'
        turn held, after a commit). A copy that fails leaves the log as it was (every
        commit in it is durable) for the next one to copy."""
        if time.monotonic() - self.last < self.EVERY:
            return
        try:
            with closing(self.engine.raw_connection()) as conn:
                cursor = conn.cursor()
                try:
                    # PASSIVE: what no reader still needs; waits for nobody
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    cursor.fetchall()
                finally:
                    cursor.close()
            self.copies += 1
        except Exception as exc:
            log.warning("copying the SQLite log into the database failed, to be tried "
                        "again after the next commit: %s", exc)
        finally:
            self.last = time.monotonic()
