"""Screening benchmarks.

- ``engine``: decisions per second and p50/p99 latency of the rule pipeline with a 20-rule
  policy, over 100,000 customers with history (10 earlier withdrawals each, the real
  Etherscan deny list of 7,780 addresses). Each decision builds its context from in-memory
  indexes, as a service with warm caches would; the baseline of the same run is a policy
  of one rule (``max_amount``).
- ``service``: whole withdrawal requests through the service on SQLite (screening context
  read with indexed aggregates, ledger hold, decision recorded), requests per second.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data"

RULES: list[dict[str, Any]] = [
    {"kind": "deny_list", "action": "block"},
    {"kind": "max_amount", "asset": "ETH", "amount": "100", "action": "block"},
    {"kind": "max_amount", "asset": "ETH", "amount": "20", "action": "review"},
    {"kind": "max_amount", "asset": "ETH", "amount": "5", "tier": "new", "action": "review"},
    {"kind": "window", "asset": "ETH", "scope": "customer", "duration": "1h",
     "max_amount": "30", "action": "review"},
    {"kind": "window", "asset": "ETH", "scope": "customer", "duration": "24h",
     "max_amount": "60", "action": "review"},
    {"kind": "window", "asset": "ETH", "scope": "customer", "duration": "30d",
     "max_amount": "500", "action": "review"},
    {"kind": "window", "asset": "ETH", "scope": "customer", "duration": "1h", "max_count": 5,
     "action": "review"},
    {"kind": "window", "asset": "ETH", "scope": "customer", "duration": "24h",
     "max_count": 20, "action": "review"},
    {"kind": "window", "asset": "ETH", "scope": "destination", "duration": "24h",
     "max_amount": "200", "action": "review"},
    {"kind": "window", "asset": "ETH", "scope": "asset", "duration": "1h",
     "max_amount": "5000", "action": "review"},
    {"kind": "window", "asset": "ETH", "scope": "all", "duration": "24h", "max_count": 100000,
     "action": "review"},
    {"kind": "hot_share", "asset": "ETH", "max_share": "0.1", "action": "review"},
    {"kind": "zscore", "threshold": "3.5", "min_history": 5, "action": "review"},
    {"kind": "new_destination", "action": "allow", "reason": "noted"},
    {"kind": "unusual_hour", "start_hour": 2, "end_hour": 5, "action": "allow",
     "reason": "noted"},
    {"kind": "outflow_rate", "asset": "ETH", "duration": "1h", "baseline_windows": 24,
     "factor": "5", "min_amount": "1000", "action": "review"},
    {"kind": "allow_list", "cooling_off": "24h", "action": "review"},
    {"kind": "max_amount", "asset": "BTC", "amount": "2", "action": "review"},
    {"kind": "max_amount", "asset": "XEM", "amount": "1000000", "action": "review"},
]


def bench_engine(decisions: int, customers: int = 100_000) -> dict[str, float]:
    from kinko.domain.labels import deny_index, parse_csv_labels
    from kinko.domain.money import AssetRegistry
    from kinko.domain.screening import Context, Request, needed_sums, parse_rules, screen

    registry = AssetRegistry.default()
    full = parse_rules(RULES, registry, "bench")
    single = parse_rules(RULES[2:3], registry, "bench")
    assert len(full) == 20
    # the real list has two addresses with wrong EIP-55 capitals: kept as written
    deny = deny_index({lbl.address: lbl for lbl in parse_csv_labels(
        (DATA / "labels" / "etherscan_malicious_labels.csv").read_text(), "etherscan.csv",
        invalid="keep").labels})
    rng = random.Random(7)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    e = 10**18
    amounts = [[rng.randrange(1, 30) * e // 10 for _ in range(10)] for _ in range(customers)]
    dests = [f"0x{rng.getrandbits(160):040x}" for _ in range(customers)]
    sums_needed = sorted(needed_sums(full), key=str)
    windows = {i: {k: (sum(amounts[i][:3]), 3) for k in sums_needed} for i in range(0, customers)}
    allow = {d: now - timedelta(days=30) for d in dests[:1000]}

    def run(rules: Any, n: int) -> list[int]:
        lat = []
        for j in range(n):
            c = rng.randrange(customers)
            t0 = time.perf_counter_ns()
            req = Request(f"W{j}", f"C{c}", "ETH", rng.randrange(1, 40) * e // 10, dests[c], now)
            ctx = Context(sums=windows[c], customer_amounts=amounts[c],
                          known_destinations=frozenset((dests[c],)), allow_list=allow,
                          deny=deny, hot_balance=10_000 * e)
            screen(req, rules, ctx, 1)
            lat.append(time.perf_counter_ns() - t0)
        return lat

    run(full, 2000)  # warm up
    lat = run(full, decisions)
    base = run(single, decisions)
    secs = sum(lat) / 1e9
    base_secs = sum(base) / 1e9
    q = statistics.quantiles(lat, n=100)
    return {"count": decisions, "seconds": secs, "per_s": decisions / secs,
            "p50_us": q[49] / 1000, "p99_us": q[98] / 1000,
            "baseline_per_s": decisions / base_secs}


def bench_service(requests: int) -> dict[str, float]:
    from kinko.chains.evm import EvmChain
    from kinko.domain.custody import Wallet
    from kinko.domain.ledger import Posting
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.custody import Custody
    from kinko.services.ledger import Ledger
    from kinko.services.withdrawals import Withdrawals
    from kinko.store import open_store, upgrade

    folder = Path(tempfile.mkdtemp())
    try:
        store = open_store(f"sqlite:///{folder}/b.db", sqlite_synchronous="NORMAL")
        upgrade(store)
        ledger = Ledger(store, SystemClock(), AssetRegistry.default())
        ledger.add_wallet(Wallet("eth-hot", "ETH", "hot",
                                 ("0x52908400098527886E0F7030069857D2E4169EE7",)))
        e = 10**18
        ledger.post("open", [Posting("wallet:eth-hot", "ETH", 10**6 * e),
                             *(Posting(f"customer:C{i}", "ETH", -(10**4) * e) for i in range(100))],
                    source="opening")
        (folder / "p.toml").write_text(_policy_toml(), encoding="utf-8")
        custody = Custody(ledger, chain=EvmChain.in_process())
        custody.load_policy(folder / "p.toml", "ops")
        service = Withdrawals(custody)
        service.load_deny_list(DATA / "labels" / "etherscan_malicious_labels.csv", invalid="keep")
        rng = random.Random(3)
        lat = []
        for j in range(requests):
            t0 = time.perf_counter_ns()
            service.request(f"S{j}", f"C{rng.randrange(100)}", "ETH",
                            rng.randrange(1, 30) * e // 10,
                            f"0x{rng.getrandbits(160):040x}")
            lat.append(time.perf_counter_ns() - t0)
        secs = sum(lat) / 1e9
        q = statistics.quantiles(lat, n=100)
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"count": requests, "seconds": secs, "per_s": requests / secs,
            "p50_us": q[49] / 1000, "p99_us": q[98] / 1000}


def _policy_toml() -> str:
    lines = ['version = 1', 'quorum = 1', '[[approvers]]', 'name = "a"',
             'public_key = "' + "ab" * 32 + '"', ""]
    for rule in RULES:
        lines.append("[[screening.rules]]")
        for k, v in rule.items():
            lines.append(f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"')
        lines.append("")
    return "\n".join(lines)
