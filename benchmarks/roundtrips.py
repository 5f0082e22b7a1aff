"""Database round trips per withdrawal request (``POST /v1/withdrawals``).

Counts what one request costs the database, not time: transactions begun, statements sent
(on SQLite each is a call into the library), how many of them run under the writers' lock
(on a write unit's connection, where other writers wait), and commits, through the REST API
in process (FastAPI's test client); on PostgreSQL also the round trips, counted apart (see
:class:`RoundTrips`); with the 20-rule policy of the screening benchmark, the Etherscan deny
list and warm caches. Three kinds of request are counted apart: a new request that is
allowed (to an address on the customer's allow list), a new request held for review (to
another address: it also makes a proposal), and a retry of an earlier request (same
Idempotency-Key). Beside the counts, one time: a request for a customer with 100,000
earlier withdrawals against one for a customer with none (what a request reads of a
customer's history must not grow with it).

    python benchmarks/roundtrips.py              # SQLite and PostgreSQL, 100 requests each
    python benchmarks/roundtrips.py --requests 20 --backend sqlite --history 0
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

DATA = HERE.parent / "tests" / "data"


class Counting:
    """SQLAlchemy engine events counted: begin, statements, commits."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.counts: Counter[str] = Counter()
        event.listen(engine, "begin", lambda conn: self.counts.update(["transactions"]))
        event.listen(engine, "commit", lambda conn: self.counts.update(["commits"]))
        event.listen(engine, "before_cursor_execute", self._statement)

    def _statement(self, conn: Any, *_args: Any) -> None:
        self.counts.update(["statements"])
        if conn.get_execution_options().get("kinko_write"):  # a write unit's connection
            self.counts.update(["locked"])

    def take(self) -> Counter[str]:
        out = Counter(self.counts)
        self.counts.clear()
        return out


class RoundTrips:
    """Round trips to PostgreSQL counted in the driver (psycopg): each time it sends
    something and waits for the server's answer (a statement, a BEGIN, a COMMIT, a
    statement prepared), a pipeline of several statements once; those made inside a write
    unit (under the writers' lock) apart. Counted where psycopg sends and then waits for the
    answer (its ``execute`` step, a pipeline's sync), so that a BEGIN
    sent before a statement counts as the round trip it is, and what psycopg settles
    without the server (setting autocommit or the isolation level between transactions, a
    rollback with no transaction open) counts as none.

    Counted with no SQLAlchemy statement listener attached: while one listens, kinko sends
    every statement alone (so that each is seen), and statements it would send together
    would be counted as round trips of their own."""

    def __init__(self) -> None:
        import threading
        from contextlib import contextmanager

        from psycopg import _cursor_base, generators
        from psycopg._pipeline_base import BasePipeline

        from kinko.store import sql

        self.counts: Counter[str] = Counter()
        local = threading.local()
        lock = threading.Lock()
        counts = self.counts

        def count() -> None:
            with lock:
                counts.update(["round_trips"])
                if getattr(local, "locked", False):
                    counts.update(["locked_round_trips"])

        def counted(step: Any) -> Any:
            def exchange(*args: Any, **kwargs: Any) -> Any:
                count()
                return step(*args, **kwargs)
            return exchange

        unit = sql.SqlStore._write_unit

        @contextmanager
        def writing(store: Any) -> Any:
            local.locked = True
            try:
                with unit(store) as u:
                    yield u
            finally:
                local.locked = False

        # outside a pipeline: the connection's own commands (BEGIN, COMMIT) look
        # ``generators.execute`` up at each call, a cursor its imported name; in a
        # pipeline, statements are only sent, and answered at its syncs (one where psycopg
        # syncs after a BEGIN or COMMIT, one as it ends)
        self._patched = tuple(
            (owner, name, getattr(owner, name), new) for owner, name, new in (
                (generators, "execute", counted(generators.execute)),
                (_cursor_base, "execute", counted(_cursor_base.execute)),
                (BasePipeline, "_sync_gen", counted(BasePipeline._sync_gen)),
                (BasePipeline, "_exit_gen", counted(BasePipeline._exit_gen)),
                (sql.SqlStore, "_write_unit", writing)))
        for owner, name, _, new in self._patched:
            setattr(owner, name, new)

    def take(self) -> Counter[str]:
        out = Counter(self.counts)
        self.counts.clear()
        return out

    def close(self) -> None:
        for owner, name, old, _ in self._patched:
            setattr(owner, name, old)


def _exchange(url: str, servers: int = 1) -> tuple[list[Any], dict[str, str], Any]:
    """An exchange at ``url`` served in process: the API's test clients (``servers`` of
    them, each an app of its own on the same store, as separate server processes keep
    their own caches), the operator's headers and the store (100 customers with ETH, the
    20-rule policy, the deny list)."""
    import screening  # benchmarks/screening.py: the same 20-rule policy
    from fastapi.testclient import TestClient

    from kinko.api import create_app
    from kinko.chains.evm import EvmChain
    from kinko.domain.custody import Wallet
    from kinko.domain.ledger import Posting
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.access import Access
    from kinko.services.custody import Custody
    from kinko.services.ledger import Ledger
    from kinko.services.withdrawals import Withdrawals
    from kinko.store import open_store, upgrade

    folder = Path(tempfile.mkdtemp())
    store = open_store(url, sqlite_synchronous="NORMAL")
    upgrade(store)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot",
                             ("0x52908400098527886E0F7030069857D2E4169EE7",)))
    e = 10**18
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 10**6 * e),
                         *(Posting(f"customer:C{i}", "ETH", -(10**4) * e) for i in range(100))],
                source="opening")
    (folder / "p.toml").write_text(screening._policy_toml(), encoding="utf-8")
    chain = EvmChain.in_process()
    Custody(ledger, chain=chain).load_policy(folder / "p.toml", "ops")
    shutil.rmtree(folder, ignore_errors=True)  # the policy is in the store now
    Withdrawals(Custody(ledger, chain=chain)).load_deny_list(
        DATA / "labels" / "etherscan_malicious_labels.csv", invalid="keep")
    with store.screening() as tables:  # allowed destinations, past their cooling-off
        for i in range(100):
            tables.allow(f"C{i}", f"0x{i + 1:040x}", SystemClock().now() - timedelta(days=2))
    access = Access(store, SystemClock())
    token = access.create_key("ops", "operator")[1]
    clients = [TestClient(create_app(lambda: Custody(Ledger(
        store, SystemClock(), AssetRegistry.default()), chain=chain), lambda: access))
        for _ in range(servers)]
    return clients, {"Authorization": f"Bearer {token}"}, store


def measure(url: str, requests: int, round_trips: bool = False
            ) -> dict[str, dict[str, float]]:
    """Per request: transactions, statements, commits, for each kind of request; with
    ``round_trips`` (PostgreSQL), the round trips instead."""
    (client,), headers, store = _exchange(url)
    counter: Counting | RoundTrips = RoundTrips() if round_trips else Counting(store.engine)

    states: Counter[str] = Counter()

    def post(key: str, customer: int, amount: str, to: int = 1) -> None:
        r = client.post("/v1/withdrawals", headers={**headers, "Idempotency-Key": key},
                        json={"customer": f"C{customer}", "asset": "ETH", "amount": amount,
                              "destination": f"0x{customer + to:040x}"})
        assert r.status_code == 201, r.text
        states[r.json()["state"]] += 1

    for i in range(10):  # warm the caches (policy, rules, deny list)
        post(f"warm-{i}", i, "0.1")
    counter.take()
    states.clear()
    out: dict[str, dict[str, float]] = {}
    kinds = {"allowed": (lambda i: post(f"a-{i}", i % 100, "0.1")),
             # not on the customer's allow list: held for review
             "review": (lambda i: post(f"r-{i}", i % 100, "0.1", to=1000)),
             "retry": (lambda i: post(f"a-{i}", i % 100, "0.1"))}
    for kind, call in kinds.items():
        for i in range(requests):
            call(i)
        counts = counter.take()
        out[kind] = {k: counts[k] / requests for k in (
            ("round_trips", "locked_round_trips") if round_trips else
            ("transactions", "statements", "locked", "commits"))}
        out[kind]["states"] = dict(states)  # type: ignore[assignment]
        states.clear()
    if isinstance(counter, RoundTrips):
        counter.close()
    store.close()
    return out


def history(url: str, earlier: int, requests: int) -> dict[str, float]:
    """Milliseconds a request takes (the median, in process, one at a time) for a customer
    with ``earlier`` withdrawals recorded before, against one with none, the requests sent
    to two servers in turn (each finds what it kept of the customer changed by the other):
    C7's are written straight into the tables (confirmed, to 50 addresses, in the past),
    with its history marks, as a migrated database holds them."""
    import statistics
    import time

    clients, headers, store = _exchange(url, servers=2)
    p = "?" if store.dialect == "sqlite" else "%s"
    with store.engine.begin() as conn:
        sql = ("INSERT INTO withdrawals (id, customer, asset, amount, destination, wallet, "
               "requested_us, requester, state, decision, tx_hash) VALUES "
               f"({', '.join([p] * 10)}, NULL)")
        for start in range(0, earlier, 10_000):
            conn.exec_driver_sql(sql, [
                (f"old-{i}", "C7", "ETH", "1000", f"0x{i % 50 + 1:040x}", "eth-hot",
                 1_600_000_000_000_000 + i, "ops", "confirmed", "{}")
                for i in range(start, min(earlier, start + 10_000))])
        conn.exec_driver_sql(f"INSERT INTO customer_history (customer, recorded, counted) "
                             f"VALUES ({p}, {p}, {p})", ("C7", earlier, earlier))
    with store.engine.connect() as conn:  # the planner's statistics after the load, as
        # PostgreSQL's autovacuum (and any import's last step) brings them up to date
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    times: dict[str, list[float]] = {"C7": [], "C8": []}
    for round_ in range(3):
        for customer in ("C8", "C7"):
            for i in range(requests // 3 + 5):
                t0 = time.perf_counter()  # each server in turn: what one kept is stale
                r = clients[i % 2].post("/v1/withdrawals", headers={
                    **headers, "Idempotency-Key": f"h-{customer}-{round_}-{i}"}, json={
                    "customer": customer, "asset": "ETH", "amount": "0.1",
                    "destination": f"0x{int(customer[1:]) + 1:040x}"})
                if i >= 5:  # the first few warm the customer's kept lists
                    times[customer].append(time.perf_counter() - t0)
                assert r.status_code == 201, r.text
    store.close()
    return {"earlier": float(earlier), "heavy_ms": 1000 * statistics.median(times["C7"]),
            "light_ms": 1000 * statistics.median(times["C8"])}


# the same script before the unit of work (commit f63e516, 2026-12-05, this machine):
# (transactions, statements, commits) per request
BEFORE = {
    ("sqlite", "allowed"): (14, 54, 14), ("sqlite", "review"): (18, 69, 18),
    ("sqlite", "retry"): (3, 8, 3), ("postgres", "allowed"): (14, 40, 14),
    ("postgres", "review"): (18, 51, 18), ("postgres", "retry"): (3, 5, 3),
}


def markdown(results: dict[str, Any]) -> list[str]:
    """The section's table: per database and kind of request, now and before."""
    lines = ["| database | request | transactions | statements | under the writers' lock | "
             "commits | round trips (under the lock) | before: transactions / statements / "
             "commits |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for backend, kinds in results.items():
        trips = results.get(f"{backend} round trips", {})
        if backend.endswith((" round trips", " history")):
            continue
        for kind, c in kinds.items():
            before = BEFORE.get((backend, kind))
            was = " / ".join(str(v) for v in before) if before else "-"
            t = trips.get(kind)
            rt = f"{t['round_trips']:.1f} ({t['locked_round_trips']:.1f})" if t else "-"
            lines.append(f"| {backend} | {kind} | {c['transactions']:.1f} | "
                         f"{c['statements']:.1f} | {c.get('locked', 0):.1f} | "
                         f"{c['commits']:.1f} | {rt} | {was} |")
    return [*lines, "",
            "Counted with SQLAlchemy's engine events through the REST API in process "
            "(FastAPI's test client), warm caches, the 20-rule screening policy and the "
            "Etherscan deny list. The API key and the caches' stamps are read on connections "
            "of their own, in autocommit, not counted here. A request of a customer whose "
            "screening lists the process keeps (each after the customer's first) is one "
            "transaction, its write unit: its statement under the writers' lock checks the "
            "lists by their marks and reads them again there if they moved, and a retry is "
            "answered there too, writing nothing; a customer's first request reads the lists "
            "before the lock as well, a transaction of its own (on PostgreSQL without a "
            "transaction on the server, each statement alone, counted here as SQLAlchemy "
            "sees them). On PostgreSQL the unit runs on the server's event loop and its batch "
            "asks for the lock within a bound: two of its statements under the lock set "
            "lock_timeout and lift it again. "
            "\"Under the writers' lock\": statements on a write unit's connection, while "
            "every other writer waits (a batch's first statement takes the lock; commits "
            "are shared by the units of a batch, and counted once per batch). On SQLite "
            "every transaction's BEGIN is a statement too; on PostgreSQL the driver's BEGIN "
            "and COMMIT are round trips not counted as statements. Round trips (PostgreSQL): "
            "each time the driver sends and waits for an answer (a transaction's BEGIN travels "
            "with its first statement; COMMIT is one), a pipeline of statements sent "
            "together once, counted in a second pass with no "
            "statement listener (while one listens, kinko sends each statement alone); one "
            "request at a time, so each batch holds one unit and its BEGIN, writers' lock and "
            "COMMIT count in full. \"Before\" is this script "
            "run before each use case became one unit of work (a request then opened a "
            "transaction for every read and write: the hold, the row, the proposal and the "
            "audit record each committed alone).", "", *_history_lines(results)]


def _history_lines(results: dict[str, Any]) -> list[str]:
    rows = [(backend.removesuffix(" history"), h) for backend, h in results.items()
            if backend.endswith(" history")]
    if not rows:
        return []
    lines = ["| database | earlier withdrawals of the customer | ms a request | ms a request, "
             "a customer with none | ratio |", "|---|---:|---:|---:|---:|"]
    for backend, h in rows:
        lines.append(f"| {backend} | {int(h['earlier']):,} | {h['heavy_ms']:.2f} | "
                     f"{h['light_ms']:.2f} | {h['heavy_ms'] / h['light_ms']:.2f}× |")
    return [*lines, "",
            "The time of one request (the median, in process through the test client, one at "
            "a time, no statement listener) for a customer with that many withdrawals "
            "recorded before, against one with none, in the same process, sent to two apps "
            "on the same database in turn (as requests reach the processes of `kinko serve "
            "--workers 2`: each finds the customer's history moved by the other). What a "
            "request reads of a customer's history is two numbers kept per customer (the "
            "marks that tell whether the kept latest amounts changed) and one look-up of the "
            "destination, by their keys. Before (2026-12-06, in process on SQLite, 100,000 "
            "earlier withdrawals): one process 70-76 ms a request against 2.2-2.9 ms (the "
            "marks were counted over the customer's rows, twice a request); two processes "
            "in turn 36 ms (every destination the customer ever used read again).", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--history", type=int, default=100_000, metavar="N",
                        help="earlier withdrawals of the customer the request times are "
                        "measured for (0: not measured)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            results["sqlite"] = measure(f"sqlite:///{tmp}/rt.db", args.requests)
            if args.history:
                results["sqlite history"] = history(f"sqlite:///{tmp}/history.db",
                                                    args.history, args.requests)
        if args.backend in ("postgres", "both"):
            import pgserver

            server = pgserver.start()
            try:
                results["postgres"] = measure(server.url(server.create_database()),
                                              args.requests)
                results["postgres round trips"] = measure(
                    server.url(server.create_database()), args.requests, round_trips=True)
                if args.history:
                    results["postgres history"] = history(
                        server.url(server.create_database()), args.history, args.requests)
            finally:
                server.stop()
    print("\n".join(markdown(results)))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
