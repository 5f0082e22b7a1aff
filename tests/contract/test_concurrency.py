"""50 concurrent workers each withdraw 1 unit from a customer holding 10: exactly 10 succeed.

Run with threads sharing one store and with separate processes each opening their own,
on SQLite (one writer, BEGIN IMMEDIATE) and on PostgreSQL (head row locked FOR UPDATE).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.errors import Overdraft
from kinko.ports import SystemClock
from kinko.services.ledger import Ledger
from kinko.store import open_store

WORKERS = 50


def _setup(ledger: Ledger) -> None:
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot")) if not ledger.wallets() else None
    ledger.post("fund", [Posting("wallet:xem-hot", "XEM", 10), Posting("customer:C1", "XEM", -10)],
                source="t")


def _withdraw(ledger: Ledger, i: int) -> bool:
    try:
        ledger.post(f"w-{i}", [Posting("customer:C1", "XEM", 1),
                               Posting("wallet:xem-hot", "XEM", -1)], source=f"worker {i}")
        return True
    except Overdraft:
        return False


def _process_worker(args: tuple[str, int, multiprocessing.synchronize.Barrier]) -> bool:
    url, i, barrier = args
    store = open_store(url)
    try:
        ledger = Ledger(store, SystemClock(), AssetRegistry.default())
        barrier.wait(timeout=60)
        return _withdraw(ledger, i)
    finally:
        store.close()


def test_threads(ledger: Ledger) -> None:
    _setup(ledger)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda i: _withdraw(ledger, i), range(WORKERS)))
    assert sum(results) == 10
    assert ledger.balance("customer:C1", "XEM") == 0
    assert ledger.verify().ok


@pytest.mark.slow
def test_processes(ledger: Ledger, store_url: str) -> None:
    _setup(ledger)
    # fresh processes forked from a server that imported kinko once (spawning 50 that each
    # import it costs half a minute of CPU); each opens its own store and connections
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["kinko.store", "kinko.services.ledger", __name__])
    with ctx.Manager() as manager:
        barrier = manager.Barrier(WORKERS)
        with ctx.Pool(WORKERS) as pool:
            results = pool.map(_process_worker, [(store_url, i, barrier) for i in range(WORKERS)])
    assert sum(results) == 10
    assert ledger.balance("customer:C1", "XEM") == 0
    assert ledger.verify().ok
