"""Watch benchmarks: how fast the watch raises a theft alarm, and how fast it
catches up with a backlog of blocks. Everything runs against real anvil nodes started here.

- ``mempool``: an anvil node mining one block a second (``--block-time 1``) and a watch
  polling it in a thread (``Watch.poll()``, then 50 ms of sleep, again). The main thread
  plays the thief: it signs transfers with the exchange's hot key to fresh addresses and
  broadcasts them one after another, at random points of the block interval (0.3 to 0.9 s
  apart). Per theft: the time from just before ``send_raw`` to the moment ``poll()``
  returned the ``theft`` alert (the whole round, not only the mempool step), and whether the
  alarm came before the block that includes the theft: its ``chain_state`` was ``pending``
  when raised *and* the alarm's clock time is earlier than the moment that block was first
  seen by a separate thread polling ``eth_blockNumber`` every 10 ms.
- ``blocks``: the same with the mempool hidden (a chain wrapper whose ``pending()`` is
  ``()``), so every alarm comes from reading the block. Per theft: from the including
  block's first sighting (the 10 ms head poller) to the alarm, and broadcast to alarm.
- ``catchup`` (the state watch on) also times the same backlog read by three more fresh
  watches on SQLite stores of their own (same wallets, same hot key), one after the other in
  the same run: the transfer path alone, the state watch as it runs (every block's state
  within 64 of the head, every 64th deeper), and the state of every block read: their
  differences per block are what the state watch costs.
- ``catchup``: a node with 10,000 blocks of backlog (``anvil_mine``, a few hundred blocks
  per call, with transfers in between: outsiders' payments, deposits into the hot wallet,
  approved withdrawals and thefts from it), then a fresh watch whose checkpoint is the start
  of the backlog: one ``poll()`` reads it all (blocks per second, every theft alarmed). The
  baseline of the same run fetches the same blocks with ``chain.block(n)`` one after the
  other with no watch logic at all (the faster of a read before and one after the watch).

Clocks are ``time.perf_counter`` in one process; the node runs on the same machine.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import anvilnode  # noqa: E402  (tests/anvilnode.py)

E = 10**18
POLL_INTERVAL = 0.05  # the watch's sleep between rounds
HEAD_INTERVAL = 0.01  # the head poller's
BLOCK_TIME = 1


def start_anvil(block_time: int | None = None) -> anvilnode.AnvilNode:
    """An anvil node like the tests', optionally mining on a clock."""
    return anvilnode.start(block_time=block_time)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


class Exchange:
    """A hot and a cold ETH wallet, customers' balances, a quorum policy with an emergency
    address, and the services the watch needs (as ``tests/chains/test_watch.py``'s Env)."""

    def __init__(self, chain: Any, store_url: str, folder: Path, hot: Any = None,
                 safe: tuple[str, Any] | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from eth_account import Account

        from kinko.chains.keystore import throwaway_signer
        from kinko.chains.wallets import KeyWallet
        from kinko.domain.approvals import public_key_hex
        from kinko.domain.custody import Wallet
        from kinko.domain.ledger import Posting
        from kinko.domain.money import AssetRegistry
        from kinko.ports import SystemClock
        from kinko.services.custody import Custody
        from kinko.services.ledger import Ledger
        from kinko.services.withdrawals import Withdrawals
        from kinko.store import open_store, upgrade

        self.store = open_store(store_url)
        upgrade(self.store)
        self.ledger = Ledger(self.store, SystemClock(), AssetRegistry.default())
        fund = hot is None  # a shadow of another exchange (same hot key) funds nothing
        self.hot = hot or throwaway_signer()
        cold, fresh = Account.create(), Account.create()
        self.ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (self.hot.address,)))
        self.ledger.add_wallet(Wallet("eth-cold", "ETH", "cold",
                                      (str(cold.address), str(fresh.address))))
        if safe is not None:  # a co-signed Safe watched too: its events read every block
            self.ledger.add_wallet(Wallet("eth-safe", "ETH", "warm", (safe[0],),
                                          kind="multisig", multisig=safe[1]))
        if fund:
            chain.fund(self.hot.address, 1000 * E)
            chain.fund(cold.address, 9000 * E)
        self.ledger.post("open", [Posting("wallet:eth-hot", "ETH", 1000 * E),
                                  Posting("wallet:eth-cold", "ETH", 9000 * E),
                                  Posting("customer:C1", "ETH", -5000 * E),
                                  Posting("customer:C2", "ETH", -5000 * E)], source="opening")
        approvers = "".join(
            f'[[approvers]]\nname = "{n}"\npublic_key = '
            f'"{public_key_hex(Ed25519PrivateKey.generate())}"\n' for n in ("a", "b", "c"))
        policy = folder / "policy.toml"
        policy.write_text(
            f"version = 1\nquorum = 2\n{approvers}\n[assets.ETH]\nmax_hot_ratio = \"0.5\"\n"
            f'cold_wallet = "eth-cold"\nemergency_address = "{fresh.address}"\n',
            encoding="utf-8")
        self.custody = Custody(self.ledger, chain=chain,
                               spender_for=lambda _w: KeyWallet(chain, self.hot),
                               confirmations=2)
        self.custody.load_policy(policy, "bench")
        self.withdrawals = Withdrawals(self.custody)

    def watch(self, chain: Any, start_block: int, state_watch: bool = True,
              every_block: bool = False) -> Any:
        from kinko.services.watch import Watch

        if every_block:  # the state of every block read, however deep (the live path)
            return Watch(self.withdrawals, chain, confirmations=2, start_block=start_block,
                         state_watch=state_watch, live_depth=10**12)
        return Watch(self.withdrawals, chain, confirmations=2, start_block=start_block,
                     state_watch=state_watch)


class NoMempool:
    """A chain whose mempool is hidden: every other call goes to the wrapped chain."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain

    def pending(self) -> tuple[Any, ...]:
        return ()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)


class HeadPoller(threading.Thread):
    """Records when each block number first shows as the node's head (``eth_blockNumber``
    every 10 ms, on its own connection)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="bench-head")
        from kinko.chains.evm import EvmChain

        self.chain = EvmChain.connect(url)
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        provider: Any = self.chain.w3.provider
        while not self.stop.is_set():
            head = int(provider.make_request("eth_blockNumber", [])["result"], 16)
            now = time.perf_counter()
            for n in range(max(self.seen, default=head - 1) + 1, head + 1):
                self.seen.setdefault(n, now)
            time.sleep(HEAD_INTERVAL)


class Poller(threading.Thread):
    """Polls the watch until stopped; the time each theft alert was returned."""

    def __init__(self, watch: Any) -> None:
        super().__init__(daemon=True, name="bench-watch")
        self.watch = watch
        self.alarms: dict[str, tuple[float, str]] = {}  # tx hash -> (time, chain_state)
        self.rounds: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.perf_counter()
            try:
                report = self.watch.poll()
            except Exception as exc:  # surfaced by the benchmark, which then fails
                self.errors.append(repr(exc))
                return
            now = time.perf_counter()
            self.rounds.append(now - t)
            for alert in report.alerts:
                if alert["kind"] == "theft":
                    self.alarms.setdefault(str(alert["tx_hash"]).lower(),
                                           (now, str(alert["chain_state"])))
            time.sleep(POLL_INTERVAL)


def bench_thefts(count: int, mempool: bool, seed: int = 5) -> dict[str, float]:
    """``count`` thefts on a node mining a block a second; see the module docstring."""
    from eth_account import Account
    from web3 import Web3

    from kinko.chains.evm import EvmChain

    node = start_anvil(block_time=BLOCK_TIME)
    folder = Path(tempfile.mkdtemp())
    heads = HeadPoller(node.url)
    poller: Poller | None = None
    try:
        chain = EvmChain.connect(node.url)
        exchange = Exchange(chain, f"sqlite:///{folder / 'watch.db'}", folder)
        watched: Any = EvmChain.connect(node.url)  # the watch's own connection
        if not mempool:
            watched = NoMempool(watched)
        poller = Poller(exchange.watch(watched, chain.head() + 1))
        heads.start()
        poller.start()
        chain_id, gas_price = chain.fee_params()
        nonce = chain.nonce(exchange.hot.address)
        rng = random.Random(seed)
        sent: dict[str, float] = {}
        time.sleep(1.5)  # the first rounds (balance sample) are behind the watch
        for i in range(count):
            raw = exchange.hot.sign_transfer(to=str(Account.create().address), value=E // 100,
                                             nonce=nonce + i, gas_price=2 * gas_price,
                                             chain_id=chain_id)
            tx_hash = "0x" + bytes(Web3.keccak(raw)).hex()
            time.sleep(rng.uniform(0.3, 0.9))
            sent[tx_hash] = time.perf_counter()
            assert chain.send_raw(raw).lower() == tx_hash
        deadline = time.monotonic() + 30
        while len(poller.alarms) < count and not poller.errors:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count - len(poller.alarms)} thefts never alarmed")
            time.sleep(0.05)
        blocks: dict[str, int] = {}
        for tx_hash in sent:
            while (receipt := chain.receipt(tx_hash)) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{tx_hash} was never mined")
                time.sleep(0.05)
            blocks[tx_hash] = receipt.block
        time.sleep(2 * HEAD_INTERVAL + 0.1)
    finally:
        heads.stop.set()
        if poller is not None:
            poller.stop.set()
            poller.join(timeout=30)
        heads.join(timeout=5)
        node.stop()
        shutil.rmtree(folder, ignore_errors=True)
    if poller.errors:
        raise RuntimeError(f"the watch failed: {poller.errors[0]}")
    from_send = [(poller.alarms[h][0] - t) * 1000 for h, t in sent.items()]
    from_block = [(poller.alarms[h][0] - heads.seen[blocks[h]]) * 1000 for h in sent]
    ahead = [h for h in sent if poller.alarms[h][1] == "pending"
             and poller.alarms[h][0] < heads.seen[blocks[h]]]
    lead = [(heads.seen[blocks[h]] - poller.alarms[h][0]) * 1000 for h in ahead]
    # for the others: how long before their block they had been broadcast
    late = [(heads.seen[blocks[h]] - t) * 1000 for h, t in sent.items() if h not in ahead]
    return {
        "count": count, "mempool": float(mempool),
        "p50_ms": percentile(from_send, 50), "p95_ms": percentile(from_send, 95),
        "max_ms": max(from_send),
        "after_block_p50_ms": percentile(from_block, 50),
        "after_block_p95_ms": percentile(from_block, 95),
        "after_block_max_ms": max(from_block),
        "before_inclusion": len(ahead) / count,
        "pending_state": sum(1 for h in sent if poller.alarms[h][1] == "pending") / count,
        "lead_p50_ms": percentile(lead, 50) if lead else 0.0,
        "late_gap_max_ms": max(late, default=0.0),
        "round_p50_ms": percentile(poller.rounds, 50) * 1000,
        "round_p95_ms": percentile(poller.rounds, 95) * 1000,
        "rounds": len(poller.rounds),
    }


def _hex(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return text if text.startswith("0x") else "0x" + text


def _fetch_all(chain: Any, first: int, last: int) -> float:
    t = time.perf_counter()
    for n in range(first, last + 1):
        chain.block(n)
    return time.perf_counter() - t


def _safe(chain: Any) -> tuple[str, Any]:
    """A 2-of-3 Safe deployed on ``chain`` (the real 1.4.1 contracts) and its set-up, for
    the watch of a co-signed exchange (operations key, co-signer, recovery key)."""
    from kinko.chains import safe as S
    from kinko.chains.keystore import throwaway_signer
    from kinko.chains.wallets import SafeAccounts

    payer = throwaway_signer()
    chain.fund(payer.address, E)
    owners = [throwaway_signer().address for _ in range(3)]
    accounts = SafeAccounts(chain, S.deploy_safe_contracts(chain), payer)
    return accounts.create(owners, 2, operator=owners[0], cosigner=owners[1])


def bench_catchup(store_url: str, blocks: int, seed: int = 5) -> dict[str, float]:
    """A backlog of ``blocks`` blocks read by one ``poll()``; see the module docstring."""
    from eth_account import Account

    from kinko.chains.evm import EvmChain

    node = start_anvil()
    folder = Path(tempfile.mkdtemp())
    try:
        chain = EvmChain.connect(node.url)
        exchange = Exchange(chain, store_url, folder)
        safe = _safe(chain)
        w3: Any = chain.w3
        provider: Any = w3.provider
        outsider = w3.eth.accounts[1]
        rng = random.Random(seed)
        start = chain.head() + 1
        segments = 20
        thefts = withdrawals = 0

        def mined(tx_hash: Any) -> None:  # one block each, in this order
            deadline = time.monotonic() + 30
            while chain.receipt(_hex(tx_hash)) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{_hex(tx_hash)} was never mined")
                time.sleep(0.01)

        for s in range(segments):
            # about blocks/segments empty blocks, then a few transactions of one block each
            provider.make_request("anvil_mine", [hex(blocks // segments - 4)])
            mined(w3.eth.send_transaction({"from": outsider, "value": rng.randrange(1, E),
                                           "to": str(Account.create().address)}))
            mined(w3.eth.send_transaction({"from": outsider, "value": E,  # a deposit
                                           "to": exchange.hot.address}))
            if s % 2:
                ident = f"W{s}"
                exchange.withdrawals.request(ident, "C1", "ETH", E // 10,
                                             str(Account.create().address))
                mined(exchange.withdrawals.send(ident).tx_hash)
                withdrawals += 1
            else:
                chain_id, gas_price = chain.fee_params()
                raw = exchange.hot.sign_transfer(
                    to=str(Account.create().address), value=E // 100,
                    nonce=chain.nonce(exchange.hot.address), gas_price=gas_price,
                    chain_id=chain_id)
                mined(chain.send_raw(raw))
                thefts += 1
        # the rest of the backlog, in which the last withdrawal reaches finality
        provider.make_request("anvil_mine", [hex(start + blocks - 1 - chain.head())])
        head = chain.head()
        reader = EvmChain.connect(node.url)
        before = _fetch_all(reader, start, head)
        watch = exchange.watch(EvmChain.connect(node.url), start)
        t = time.perf_counter()
        report = watch.poll()
        secs = time.perf_counter() - t
        after = _fetch_all(reader, start, head)
        paths: dict[str, float] = {}
        # the transfer path alone, the state watch as it runs, and reading every block's state
        for path, state_watch, every in (("off", False, False), ("on", True, False),
                                         ("every", True, True), ("safe", True, False)):
            shadow = Exchange(chain, f"sqlite:///{folder / f'shadow-{path}.db'}",
                              folder, hot=exchange.hot, safe=safe if path == "safe" else None)
            other = shadow.watch(EvmChain.connect(node.url), start, state_watch=state_watch,
                                 every_block=every)
            t = time.perf_counter()
            shadow_report = other.poll()
            paths[path] = time.perf_counter() - t
            assert shadow_report.blocks == blocks
            assert len([a for a in shadow_report.alerts if a["kind"] == "theft"]) >= thefts
            shadow.store.close()
        raised = [a for a in report.alerts if a["kind"] == "theft"]
        assert report.blocks == head - start + 1 == blocks, (report.blocks, head - start + 1)
        assert len(raised) == thefts, report.alerts
        assert sorted(report.closed) == sorted(f"withdrawal:W{s}" for s in range(1, segments, 2))
        exchange.store.close()
    finally:
        node.stop()
        shutil.rmtree(folder, ignore_errors=True)
    count = head - start + 1
    base = min(before, after)
    return {"count": count, "seconds": secs, "per_s": count / secs, "baseline_seconds": base,
            "baseline_per_s": count / base, "thefts": thefts, "withdrawals": withdrawals,
            "alerts": len(raised), "closed": len(report.closed),
            "baseline_first_s": before, "baseline_second_s": after,
            "transfers_only_seconds": paths["off"], "with_state_seconds": paths["on"],
            "every_block_seconds": paths["every"], "safe_seconds": paths["safe"],
            "safe_ms_per_block": (paths["safe"] - paths["on"]) * 1000 / count,
            "state_ms_per_block": (paths["on"] - paths["off"]) * 1000 / count,
            "every_block_ms_per_block": (paths["every"] - paths["off"]) * 1000 / count,
            "load": os.getloadavg()[0]}
