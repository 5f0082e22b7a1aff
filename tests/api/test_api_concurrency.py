"""1,000 concurrent withdrawal requests, plus retries, racing for one customer's balance
through a real HTTP server, on SQLite and on PostgreSQL: what is reserved never exceeds the
balance, a retried Idempotency-Key never makes a second withdrawal, and the ledger verifies."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import loopback
import pytest
import uvicorn
from dbtemplate import migrated_sqlite

from kinko.api import create_app
from kinko.chains.evm import EvmChain
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting, available
from kinko.domain.money import AssetRegistry
from kinko.ports import SystemClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.store import SqlStore, open_store

E = 10**18
REQUESTS = 1000
RETRIES = 100
BALANCE = 250


@pytest.mark.slow
def test_requests_race_for_one_balance(store: SqlStore, tmp_path: Path) -> None:
    _race(store, tmp_path)


@pytest.mark.slow
def test_requests_race_for_one_balance_on_the_event_loop(tmp_path: Path) -> None:
    """SQLite whose commits do not wait for the disk: the requests' units of work run on the
    server's event loop (``SqlStore.on_loop``), the same guarantees hold."""
    url = tmp_path / "loop.db"
    migrated_sqlite(url)
    store = open_store(f"sqlite:///{url}", sqlite_synchronous="NORMAL")
    try:
        _race(store, tmp_path, requests=400, retries=40)  # still more than the balance
        done = store.group_commit()
        assert done["on_loop"] >= BALANCE // 2, done  # most of them on the loop
        assert done["largest"] > 1, done  # and grouped there
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.usefixtures("without_direct_pipeline")
def test_racers_overdraw_nothing_through_psycopgs_own_pipeline(
        pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL with a psycopg whose internals kinko's direct pipeline uses are gone: the
    requests' held writes go through psycopg's own pipeline, the same guarantees hold."""
    store = open_store(pg.new_url())
    try:
        _race(store, tmp_path, requests=300, retries=30)  # still more than the balance
    finally:
        store.close()


def _race(store: SqlStore, tmp_path: Path, requests: int = REQUESTS,
          retries: int = RETRIES) -> None:
    import anvilnode

    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot",
                             ("0x52908400098527886E0F7030069857D2E4169EE7",)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", BALANCE * E),
                         Posting("customer:C1", "ETH", -BALANCE * E)], source="opening")
    (tmp_path / "p.toml").write_text('version = 1\nquorum = 1\n[[approvers]]\nname = "a"\n'
                                     'public_key = "' + "ab" * 32 + '"\n')
    chain = EvmChain.in_process()
    Custody(ledger, chain=chain).load_policy(tmp_path / "p.toml", "ops")
    access = Access(store, SystemClock())
    token = access.create_key("ops", "operator")[1]
    app = create_app(lambda: Custody(ledger, chain=chain), lambda: access)
    port = anvilnode.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        keys = [f"R-{i}" for i in range(requests)] + [f"R-{i}" for i in range(retries)]
        # one client, 32 connections kept open: a client made per request spent most of
        # the test's time building its TLS context
        client = loopback.client(f"http://127.0.0.1:{port}", timeout=120,
                              limits=httpx.Limits(max_connections=32))

        def call(key: str) -> int:
            r = client.post("/v1/withdrawals", headers={
                "Authorization": f"Bearer {token}", "Idempotency-Key": key},
                json={"customer": "C1", "asset": "ETH", "amount": "1",
                      "destination": "0x" + "12" * 20})
            return r.status_code

        with client, ThreadPoolExecutor(max_workers=32) as pool:
            codes = Counter(pool.map(call, keys))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert set(codes) <= {201, 422}, codes  # created (or its retry), or refused: overdraft
    (row,) = ledger.balances(account="customer:C1")
    assert row.state.pending_debit == BALANCE * E  # all of it reserved, never more
    assert available("customer:C1", row.state) == 0
    from kinko.services.withdrawals import Withdrawals

    made = Withdrawals(Custody(ledger, chain=chain)).find()
    assert len(made) == BALANCE and len({w.id for w in made}) == BALANCE
    assert ledger.verify().ok
