"""What each racer of ``test_concurrency`` does, in a module of its own: a process forked
to race unpickles its task by importing this module, which imports only kinko's ledger
(already loaded in the fork server) and not pytest and the test module's other imports."""

from __future__ import annotations

import multiprocessing.synchronize

from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.errors import Overdraft
from kinko.ports import SystemClock
from kinko.services.ledger import Ledger
from kinko.store import open_store

__all__ = ["process_worker", "withdraw"]


def withdraw(ledger: Ledger, i: int) -> bool:
    """One unit out of C1's 10 XEM; whether it was taken."""
    try:
        ledger.post(f"w-{i}", [Posting("customer:C1", "XEM", 1),
                               Posting("wallet:xem-hot", "XEM", -1)], source=f"worker {i}")
        return True
    except Overdraft:
        return False


def process_worker(args: tuple[str, int, multiprocessing.synchronize.Barrier]) -> bool:
    """:func:`withdraw` in a process of its own, on a store it opens, once every racer is
    ready."""
    url, i, barrier = args
    store = open_store(url)
    try:
        ledger = Ledger(store, SystemClock(), AssetRegistry.default())
        barrier.wait(timeout=60)
        return withdraw(ledger, i)
    finally:
        store.close()
