"""50 concurrent workers each withdraw 1 unit from a customer holding 10: exactly 10 succeed.

Run with threads sharing one store and with separate processes each opening their own,
on SQLite (one writer, BEGIN IMMEDIATE) and on PostgreSQL (head row locked FOR UPDATE).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest
from ledgerrace import process_worker, withdraw

from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.services.ledger import Ledger

WORKERS = 50


def _setup(ledger: Ledger) -> None:
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot")) if not ledger.wallets() else None
    ledger.post("fund", [Posting("wallet:xem-hot", "XEM", 10), Posting("customer:C1", "XEM", -10)],
                source="t")


def test_threads(ledger: Ledger) -> None:
    _setup(ledger)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda i: withdraw(ledger, i), range(WORKERS)))
    assert sum(results) == 10
    assert ledger.balance("customer:C1", "XEM") == 0
    assert ledger.verify().ok


@pytest.mark.slow
def test_processes(ledger: Ledger, store_url: str) -> None:
    _setup(ledger)
    # fresh processes forked from a server that imported kinko once (spawning 50 that each
    # import it costs half a minute of CPU); each opens its own store and connections. The
    # server cannot preload a test's module (it starts without the tests' folders on its
    # path): each racer imports `ledgerrace`, which needs nothing the server lacks
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["kinko.store", "kinko.services.ledger"])
    with ctx.Manager() as manager:
        barrier = manager.Barrier(WORKERS)
        with ctx.Pool(WORKERS) as pool:
            results = pool.map(process_worker, [(store_url, i, barrier) for i in range(WORKERS)])
    assert sum(results) == 10
    assert ledger.balance("customer:C1", "XEM") == 0
    assert ledger.verify().ok
