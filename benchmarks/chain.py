"""Chain benchmarks against a real anvil node (started here, stopped after).

- ``reconcile``: the balances of 10,000 funded addresses, read with batched JSON-RPC (200 a
  request) as reconciliation does, against the same reads one request each (the baseline).
- ``deposits``: 100,000 deposit transfers to 10,000 customers' addresses in one block range,
  scanned and credited (one ledger batch per block) on SQLite.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def _batch(w3: Any, calls: list[tuple[str, list[Any]]]) -> None:
    provider = w3.provider
    for i in range(0, len(calls), 500):
        provider.make_batch_request(calls[i : i + 500])


def bench_reconcile(n: int) -> dict[str, float]:
    import anvilnode
    from eth_account import Account

    from kinko.chains.evm import EvmChain

    node = anvilnode.start()
    try:
        chain = EvmChain.connect(node.url)
        addresses = [str(Account.create().address) for _ in range(n)]
        _batch(chain.w3, [("anvil_setBalance", [a, hex(10**18 + i)])
                          for i, a in enumerate(addresses)])
        t = time.perf_counter()
        batched = chain.balances(addresses)
        secs = time.perf_counter() - t
        assert sum(batched.values()) == n * 10**18 + n * (n - 1) // 2
        single = EvmChain(chain.w3, label="unbatched", batch=False)
        t = time.perf_counter()
        single.balances(addresses)
        base = time.perf_counter() - t
    finally:
        node.stop()
    return {"count": n, "seconds": secs, "per_s": n / secs, "baseline_seconds": base,
            "baseline_per_s": n / base}


def bench_deposits(n: int, customers: int = 10_000) -> dict[str, float]:
    import anvilnode
    from eth_account import Account

    from kinko.chains.evm import EvmChain
    from kinko.domain.addresses import canonical_address
    from kinko.domain.custody import Wallet
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.deposits import Deposits
    from kinko.services.ledger import Ledger
    from kinko.store import open_store, upgrade

    node = anvilnode.start()
    tmp = tempfile.mkdtemp()
    try:
        chain = EvmChain.connect(node.url)
        w3 = chain.w3
        store = open_store(f"sqlite:///{tmp}/bench.db", sqlite_synchronous="NORMAL")
        upgrade(store)
        ledger = Ledger(store, SystemClock(), AssetRegistry.default())
        ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (str(Account.create().address),)))
        addresses = [str(Account.create().address) for _ in range(customers)]
        with store.deposits() as tables:  # as Deposits.add_address keeps them: canonical
            for i, a in enumerate(addresses):
                tables.put_address(canonical_address(a, "ethereum"), "ethereum", f"C{i:06d}",
                                   "ETH", "eth-hot")
        start = chain.head() + 1
        senders = w3.eth.accounts[:10]
        w3.provider.make_request("evm_setAutomine", [False])
        per_block = 1000
        nonces = {s: w3.eth.get_transaction_count(s) for s in senders}
        for b in range(0, n, per_block):
            calls = []
            for i in range(b, min(n, b + per_block)):
                sender = senders[i % 10]
                calls.append(("eth_sendTransaction", [{
                    "from": sender, "to": addresses[i % customers], "value": hex(1000 + i),
                    "nonce": hex(nonces[sender])}]))
                nonces[sender] += 1
            _batch(w3, calls)
            w3.provider.make_request("evm_mine", [])
        while int(w3.provider.make_request("txpool_status", [])["result"]["pending"], 16):
            w3.provider.make_request("evm_mine", [])  # the rest of the pool
        w3.provider.make_request("evm_setAutomine", [True])
        chain.mine(1)
        deposits = Deposits(ledger, chain, confirmations=1, start_block=start)
        t = time.perf_counter()
        report = deposits.scan()
        secs = time.perf_counter() - t
        assert report.credited == n, report
        assert ledger.verify().ok
        store.close()
    finally:
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"count": n, "seconds": secs, "per_s": n / secs, "blocks": report.scanned}
