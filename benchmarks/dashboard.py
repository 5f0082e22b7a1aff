"""Dashboard benchmarks: server time for the overview (``GET /``) and the review
queue (``GET /withdrawals``, its first page) with 260,000 customers and 100,000 withdrawals.

Requests go through the whole ASGI app in this process: Starlette's ``TestClient`` signed
in with a session cookie (``POST /login`` with an admin API key), so each figure includes
routing, the session check, the services, the SQL and the template, but no network. Each
page is asked for 10 times untimed, then ``REQUESTS`` times, one after the other.

The data set (built once per size and schema, then cached for SQLite as a database file in
the temporary folder, ``kinko-bench/``; PostgreSQL builds it again in each run):

- customers: ``generate_customers`` (the demo's 260,000; XEM, ETH and JPY balances, 546,000
  rows) imported with ``import_customers`` (the ledger's batched path), then the demo's
  opening holdings and own funds, four wallets, a 2-of-3 policy with a review rule;
- withdrawals: two requested through the ``Withdrawals`` service (one allowed, one held for
  review: the templates), then 100,000 rows inserted in bulk into the withdrawals table in
  the store's own transaction, shaped like the templates: one every 30 s, newest last;
  states 97% confirmed, 0.5% in review (with the review's proposal, half with one of two
  approvals), the rest approved, sent, blocked, rejected and expired. The bulk rows put no
  holds in the ledger (the balances are not what these pages read per request).

Figures per page: p50 / p99 / max ms. Overview: *steady* (nothing changed between
requests), *live* (one ledger entry appended, untimed, before every request: the summed
balances are brought forward by one entry each time, as on an exchange that is working),
and *cold* (the first request of a fresh app, summing every balance; one request, ms).
Baseline of the same run: the same requests on an empty exchange (same wallets and
policy, no customers, no withdrawals).

    python benchmarks/dashboard.py sqlite [--quick]   # one backend, prints a JSON line
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

CUSTOMERS = 260_000
WITHDRAWALS = 100_000
REQUESTS = 300
WARMUP = 10
DATA_VERSION = "1"  # bump when the data set's recipe changes
PRICES = {"XEM": Decimal("88.549"), "ETH": Decimal("120000")}

_STATES = [("confirmed", 0.97), ("review", 0.005), ("approved", 0.002), ("sent", 0.002),
           ("blocked", 0.012), ("rejected", 0.005), ("expired", 0.004)]


def _policy(folder: Path) -> Path:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kinko.domain.approvals import public_key_hex

    lines = ["version = 1", "quorum = 2", "proposal_ttl_hours = 24",
             'total_max_hot_ratio = "0.05"', ""]
    for name in ("alice", "bob", "carol"):
        key = public_key_hex(Ed25519PrivateKey.generate())
        lines += ["[[approvers]]", f'name = "{name}"', f'public_key = "{key}"', ""]
    lines += ["[assets.XEM]", 'max_hot_ratio = "0.05"', 'cold_wallet = "xem-cold"', "",
              "[assets.ETH]", 'max_hot_ratio = "0.05"', 'cold_wallet = "eth-cold"', "",
              "[[screening.rules]]", 'kind = "max_amount"', 'asset = "ETH"', 'amount = "0.1"',
              'action = "review"', 'reason = "large withdrawal"', ""]
    path = folder / "policy.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _exchange(url: str, folder: Path, customers: int) -> Any:
    """An exchange with ``customers`` (0: none) and its opening holdings; the ledger."""
    from kinko.domain.custody import Wallet
    from kinko.domain.ledger import Posting
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.custody import Custody
    from kinko.services.customers import import_customers
    from kinko.services.demo import generate_customers
    from kinko.services.ledger import Draft, Ledger
    from kinko.store import open_store, upgrade

    store = open_store(url, sqlite_synchronous="NORMAL")
    upgrade(store)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.sync_assets()
    hot, cold = "0x" + "11" * 20, "0x" + "22" * 20
    for wallet in (Wallet("xem-hot", "XEM", "hot", (hot,)), Wallet("xem-cold", "XEM", "cold",
                                                                    (cold,)),
                   Wallet("eth-hot", "ETH", "hot", (hot,)), Wallet("eth-cold", "ETH", "cold",
                                                                    (cold,))):
        ledger.add_wallet(wallet)
    totals = {"XEM": 10**12, "ETH": 10**21, "JPY": 10**9}
    if customers:
        csv = folder / "customers.csv"
        totals = generate_customers(csv, customers)
        import_customers(ledger, csv, batch_size=5000)
    else:  # one customer, so there is something owed
        ledger.post("opening:c1", [Posting("clearing:opening", s, n) for s, n in totals.items()]
                    + [Posting("customer:C0000001", s, -n) for s, n in totals.items()],
                    source="bench")
    ledger.append([Draft("bench:holdings", postings=(
        Posting("wallet:xem-hot", "XEM", totals["XEM"] * 4 // 100),
        Posting("wallet:xem-cold", "XEM", totals["XEM"] - totals["XEM"] * 4 // 100),
        Posting("wallet:eth-hot", "ETH", totals["ETH"] * 4 // 100),
        Posting("wallet:eth-cold", "ETH", totals["ETH"] - totals["ETH"] * 4 // 100),
        Posting("bank:jpy-trust", "JPY", totals["JPY"]),
        *(Posting("clearing:opening", s, -n) for s, n in totals.items())),
        source="bench", memo="holdings at opening")])
    Custody(ledger).load_policy(_policy(folder), "carol")
    return ledger


def _withdrawals(ledger: Any, count: int, seed: int = 9) -> None:
    """Two withdrawals through the service (the templates), then ``count`` in bulk."""
    from kinko.domain.approvals import Approval, Proposal
    from kinko.services.custody import Custody
    from kinko.services.withdrawals import Withdrawals
    from kinko.store import schema as s
    from kinko.store.values import to_us

    service = Withdrawals(Custody(ledger))
    rich = [r.account.partition(":")[2] for r in ledger.balances(kind="customer", asset="ETH")
            if -r.state.balance >= 10**18][:2]
    allowed = service.request("T-allowed", rich[0], "ETH", 5 * 10**16, "0x" + "ab" * 20)
    review = service.request("T-review", rich[1], "ETH", 5 * 10**17, "0x" + "cd" * 20)
    assert (allowed.state, review.state) == ("allowed", "review"), (allowed, review)
    with ledger.store.screening(write=False) as tables:
        shapes = {"allowed": tables.withdrawal("T-allowed"),
                  "review": tables.withdrawal("T-review")}
    template = Custody(ledger).proposal("withdrawal-T-review")
    assert template is not None
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    states = [name for name, _ in _STATES]
    weights = [w for _, w in _STATES]
    rows, proposals = [], []
    blocked = json.loads(shapes["review"]["decision"])  # type: ignore[index]
    blocked["outcome"] = "block"
    for i in range(count):
        state = rng.choices(states, weights)[0]
        shape = shapes["review" if state in ("review", "approved", "rejected") else "allowed"]
        assert shape is not None
        wid = f"W{i:07d}"
        at = start + timedelta(seconds=30 * i)
        rows.append({
            "id": wid, "customer": f"C{rng.randrange(1, CUSTOMERS + 1):07d}",
            "asset": "ETH", "amount": str(rng.randrange(10**15, 10**18)),
            "destination": "0x" + hashlib.sha256(wid.encode()).hexdigest()[:40],
            "wallet": "eth-hot", "requested_us": to_us(at), "requester": "api", "state": state,
            "decision": json.dumps(blocked) if state == "blocked" else shape["decision"],
            "tx_hash": ("0x" + hashlib.sha256(b"tx" + wid.encode()).hexdigest()
                        if state in ("sent", "confirmed") else None)})
        if state == "review":
            p = template.proposal
            proposals.append(Proposal(f"withdrawal-{wid}", p.kind,
                                      {**p.payload, "withdrawal": wid}, p.proposer, at,
                                      at + timedelta(days=3650), p.policy_version))
    with ledger.store.screening() as tables:
        for i in range(0, len(rows), 5000):
            tables.conn.execute(s.withdrawals.insert(), rows[i:i + 5000])
    with ledger.store.custody() as (_, custody):
        for n, proposal in enumerate(proposals):
            custody.put_proposal(proposal, "withdrawal held for review")
            if n % 2:
                custody.add_approval(proposal.id, Approval("alice", "00" * 64,
                                                           proposal.created_at))


def _cache_key(customers: int, withdrawals: int) -> str:
    import kinko.store

    root = Path(kinko.store.__file__).parent  # the tables' shape: schema and migrations
    files = [root / "schema.py", *sorted((root / "migrations").rglob("*.py"))]
    text = "".join(p.read_text(encoding="utf-8") for p in files)
    digest = hashlib.sha256((text + DATA_VERSION).encode()).hexdigest()[:12]
    return f"dashboard-{customers}-{withdrawals}-{digest}"


def sqlite_dataset(work: Path, customers: int, withdrawals: int) -> tuple[Path, float, bool]:
    """A copy of the cached database (built first when missing): path, build seconds,
    whether it came from the cache."""
    cache = Path(tempfile.gettempdir()) / "kinko-bench"
    cache.mkdir(exist_ok=True)
    key = _cache_key(customers, withdrawals)
    cached = cache / f"{key}.db"
    hit = cached.exists()
    seconds = 0.0
    if not hit:
        for old in cache.glob(f"dashboard-{customers}-{withdrawals}-*.db"):
            old.unlink()
        started = time.perf_counter()
        building = cache / f"{key}.building.db"
        building.unlink(missing_ok=True)
        ledger = _exchange(f"sqlite:///{building}", work, customers)
        _withdrawals(ledger, withdrawals)
        with ledger.store.reader() as tx:
            tx.conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        ledger.store.close()
        building.rename(cached)
        seconds = time.perf_counter() - started
    target = work / "dashboard.db"
    shutil.copyfile(cached, target)
    return target, seconds, hit


def _app(ledger: Any, folder: Path) -> Any:
    from fastapi.testclient import TestClient

    from kinko.api import create_app
    from kinko.ports import SystemClock
    from kinko.prices import FixedPrices
    from kinko.services.access import Access
    from kinko.services.custody import Custody

    clock = SystemClock()
    _key, token = Access(ledger.store, clock).create_key("bench", "admin")
    app = create_app(lambda: Custody(ledger, prices=FixedPrices(PRICES)),
                     lambda: Access(ledger.store, clock), dashboard=folder)
    client = TestClient(app, follow_redirects=False)
    signed = client.post("/login", data={"api_key": token, "next": "/", "zone": "Asia/Tokyo"})
    assert signed.status_code == 303, signed.text
    gc.collect()  # as `kinko serve` does once it has started (see cli/serve.py)
    gc.freeze()
    return client


def _times(client: Any, path: str, count: int,
           between: Callable[[int], None] | None = None) -> dict[str, float]:
    for _ in range(WARMUP):
        assert client.get(path).status_code == 200
    took = []
    for i in range(count):
        if between is not None:
            between(i)
        started = time.perf_counter()
        r = client.get(path)
        took.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    took.sort()
    return {"p50_ms": statistics.median(took),
            "p99_ms": took[min(len(took) - 1, round(0.99 * len(took)) - 1)],
            "max_ms": took[-1], "count": count}


def withdrawals_path() -> str | None:
    """The review queue's page when the dashboard has it (else None: the service is timed)."""
    import importlib.util

    return "/withdrawals" if importlib.util.find_spec("kinko.api.web.withdrawals") else None


def _queue_service(ledger: Any, count: int) -> dict[str, float]:
    """Until the page exists: the service call it makes for the first page of the queue."""
    from kinko.services.custody import Custody
    from kinko.services.withdrawals import Withdrawals

    service = Withdrawals(Custody(ledger))
    took = []
    for i in range(WARMUP + count):
        started = time.perf_counter()
        if hasattr(service, "page"):
            service.page(state="review", limit=50)
        else:
            service.find("review")
        if i >= WARMUP:
            took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {"p50_ms": statistics.median(took), "p99_ms": took[round(0.99 * len(took)) - 1],
            "max_ms": took[-1], "count": count}


def measure(ledger: Any, folder: Path, requests: int) -> dict[str, Any]:
    """Every figure on one exchange."""
    from kinko.domain.ledger import Posting

    out: dict[str, Any] = {}
    client = _app(ledger, folder)
    started = time.perf_counter()
    assert client.get("/").status_code == 200
    out["cold_ms"] = (time.perf_counter() - started) * 1000
    out["steady"] = _times(client, "/", requests)
    bump = ledger.head()[0]

    def deposit(i: int) -> None:
        ledger.post(f"bench:live:{bump}:{i}", [Posting("wallet:xem-hot", "XEM", 1),
                                               Posting(f"customer:L{i % 50:07d}", "XEM", -1)],
                    source="bench")

    out["live"] = _times(client, "/", requests, deposit)
    path = withdrawals_path()
    out["queue_via"] = path or "service"
    out["queue"] = (_times(client, path, requests) if path is not None
                    else _queue_service(ledger, requests))
    return out


def child(backend: str, quick: bool) -> dict[str, Any]:
    """Both exchanges on one backend, in this process."""
    customers = 20_000 if quick else CUSTOMERS
    withdrawals = 10_000 if quick else WITHDRAWALS
    requests = 60 if quick else REQUESTS
    out: dict[str, Any] = {"backend": backend, "customers": customers,
                           "withdrawals": withdrawals}
    server = None
    with tempfile.TemporaryDirectory(prefix="kinko-dash-bench-") as tmp:
        work = Path(tmp)
        try:
            from kinko.domain.money import AssetRegistry
            from kinko.ports import SystemClock
            from kinko.services.ledger import Ledger
            from kinko.store import open_store

            if backend == "postgres":
                import pgserver

                server = pgserver.start()
                empty_url = server.url(server.create_database())
                url = server.url(server.create_database())
                started = time.perf_counter()
                ledger = _exchange(url, work, customers)
                _withdrawals(ledger, withdrawals)
                out["build_s"], out["cached"] = time.perf_counter() - started, False
            else:
                empty_url = f"sqlite:///{work / 'empty.db'}"
                path, out["build_s"], out["cached"] = sqlite_dataset(work, customers,
                                                                     withdrawals)
                store = open_store(f"sqlite:///{path}", sqlite_synchronous="NORMAL")
                ledger = Ledger(store, SystemClock(), AssetRegistry.default())
                ledger.sync_assets()
            empty = _exchange(empty_url, work, 0)
            out["baseline"] = measure(empty, work, requests)
            out["full"] = measure(ledger, work, requests)
            ledger.store.close()
            empty.store.close()
        finally:
            if server is not None:
                server.stop()
    return out


def markdown(results: list[dict[str, Any]], quick: bool) -> list[str]:
    lines = [
        "Server time through the ASGI app in-process (Starlette `TestClient`, signed in "
        "with a session cookie; no network), "
        f"{results[0]['full']['steady']['count']} timed requests per figure after "
        f"{WARMUP} untimed, one at a time. Baseline: the same request on an empty exchange "
        "(same wallets and policy, one customer, no withdrawals) in the same run. *Steady*: "
        "nothing changed between requests; *live*: one ledger entry appended (untimed) before "
        "each request; *cold*: the first request of a new app (every balance summed).",
        "",
        "| page | backend | customers | withdrawals | p50 ms | p99 ms | max ms | baseline "
        "p50 / p99 ms | p99 vs baseline |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for r in results:
        name = "SQLite" if r["backend"] == "sqlite" else "PostgreSQL"
        queue = "GET /withdrawals (review queue, first page)"
        if r["full"]["queue_via"] == "service":
            queue += ": the service call (no page yet)"
        for label, key in (("GET / (overview), steady", "steady"),
                           ("GET / (overview), live", "live"), (queue, "queue")):
            f, b = r["full"][key], r["baseline"][key]
            worst = max(worst, f["p99_ms"])
            lines.append(
                f"| {label} | {name} | {r['customers']:,} | {r['withdrawals']:,} | "
                f"{f['p50_ms']:,.1f} | {f['p99_ms']:,.1f} | {f['max_ms']:,.1f} | "
                f"{b['p50_ms']:,.1f} / {b['p99_ms']:,.1f} | {f['p99_ms'] / b['p99_ms']:.1f}× |")
        lines.append(
            f"| GET / (overview), cold: first request | {name} | {r['customers']:,} | "
            f"{r['withdrawals']:,} | {r['full']['cold_ms']:,.0f} (one request) | | | "
            f"{r['baseline']['cold_ms']:,.0f} | |")
    builds = "; ".join(
        f"{'SQLite' if r['backend'] == 'sqlite' else 'PostgreSQL'} "
        + ("from the cache" if r["cached"] else f"built in {r['build_s']:.0f} s")
        for r in results)
    lines += [
        "",
        f"Target: p99 ≤ 300 ms — {'met' if worst <= 300 else 'MISSED'} (worst "
        f"p99 {worst:,.0f} ms)" + (" (quick run: smaller sizes)" if quick else "")
        + f". Data set: {builds}.",
        "",
        DASHBOARD_NOTES,
    ]
    return lines


DASHBOARD_NOTES = """How the data set is made: the demo's customers (`generate_customers`, imported
with `import_customers`: 546,000 balance rows for 260,000 customers), the demo's opening holdings,
a 2-of-3 policy with a review rule; two withdrawals requested through the service (one
allowed, one held for review), then 100,000 rows like them inserted in bulk into the
withdrawals table in one store transaction (one every 30 s; 97% confirmed, 0.5% in review
with their proposals, half with one approval; no ledger holds for the bulk rows). SQLite
keeps it in the temporary folder (`kinko-bench/`, keyed by the schema and its migrations)
between runs; each run copies it.

Where the overview's time went (cProfile, demo database, 2026-11-27, before the change):
0.65-1.0 s per request, 95% in `custody_positions` summing every customer balance
(`sum_balances("customer")`: 546,000 rows of decimal text added exactly by a Python
aggregate, 1.6 million calls), 36 ms reading the four wallet rows (`LIKE 'wallet:%'` cannot
use SQLite's index, so every row was read), and one read transaction per proposal for the
pending list (every withdrawal held for review is a proposal). Now: the store keeps the
summed balances per account kind with the ledger head (seq, hash) they were summed at and,
when the head has moved, adds the balance changes of the entries in between
(`entry_deltas`, the changes `append` wrote) and counts the accounts they touched first; the
balances table changes only in `append`, which moves the head in the same transaction, so
the sums are exact (a contract test compares them with the sums read afresh on SQLite and
PostgreSQL after transfers, holds, posted and voided holds and new accounts). A changed
history at the cached seq, a head that went back or more than 20,000 postings in between
(an import) read the sums afresh (the *cold* figure). Other kinds' accounts are found as a
key range on SQLite; the pending proposals' approvals are read in one query
(`approvals_of`, 500 ids per query) and open alerts counted in SQL. The p99 was then set by
the garbage collector: a full pass over what start-up made took ~80 ms every ~60 requests;
`kinko serve` (and this benchmark, as it does) freezes the start-up heap (`gc.freeze`)
once it is ready. On PostgreSQL the count of postings since the cached head is bounded
on both sides (with only a lower bound, a prepared statement's generic plan scanned every
posting: 30 ms a request; *live* p50 was 101 ms). The *cold* request (a new process)
sums every balance once.
"""


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # pgserver
    print(json.dumps(child(sys.argv[1], "--quick" in sys.argv)))
