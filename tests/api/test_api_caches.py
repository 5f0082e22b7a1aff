"""What a server caches of the read-mostly tables is never stale, on SQLite and PostgreSQL:
a key revoked by the command line (another process) fails its very next request; a new
policy version, a tripped breaker, a deny list, a new wallet and an incident recorded by
another process apply to the next request; and what a unit wrote and then undid is never
served, even when a later change brings the same stamp back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_sqlite
from fastapi.testclient import TestClient

from kinko.api import create_app
from kinko.chains.evm import EvmChain
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.domain.policy import policy_from_canonical
from kinko.errors import StoreUnavailable
from kinko.ports import SystemClock, WouldBlock
from kinko.services.access import Access
from kinko.services.custody import Custody, stored_versions
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals
from kinko.store import SqlStore, open_store
from kinko.store.sql import _AsyncStamps, _SharedRead

E = 10**18
HOT = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
DEST = "0x52908400098527886e0f7030069857d2e4169ee7"
APPROVER = Ed25519PrivateKey.generate()
POLICY = ('version = {version}\nquorum = 1\n[[approvers]]\nname = "a"\n'
          f'public_key = "{public_key_hex(APPROVER)}"\n')
RULES_V2 = """
[[screening.rules]]
kind = "max_amount"
asset = "ETH"
amount = "0.5"
action = "review"
reason = "v2"

[[screening.rules]]
kind = "deny_list"
action = "block"
"""


class Server:
    """The API on its own store (its own caches), as `kinko serve` has it."""

    def __init__(self, store: SqlStore, tmp: Path) -> None:
        self.ledger = Ledger(store, SystemClock(), AssetRegistry.default())
        self.ledger.sync_assets()
        self.ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (HOT,)))
        self.ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                                  Posting("customer:C1", "ETH", -100 * E)], source="opening")
        (tmp / "p.toml").write_text(POLICY.format(version=1))
        chain = EvmChain.in_process()
        self.custody = Custody(self.ledger, chain=chain)
        self.custody.load_policy(tmp / "p.toml", "ops")
        access = Access(store, SystemClock())
        self.key, self.token = access.create_key("ops", "operator")
        self.client = TestClient(create_app(lambda: self.custody, lambda: access),
                                 raise_server_exceptions=False)
        self.n = 0

    def get(self) -> Any:
        return self.client.get("/v1/breaker", headers={"Authorization": f"Bearer {self.token}"})

    def post(self, amount: str = "1", destination: str = DEST) -> Any:
        self.n += 1
        return self.client.post("/v1/withdrawals", json={
            "customer": "C1", "asset": "ETH", "amount": amount, "destination": destination},
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": f"W-{self.n}"})


@pytest.fixture
def server(store: SqlStore, tmp_path: Path) -> Server:
    return Server(store, tmp_path)


@pytest.fixture
def other(store_url: str) -> Iterator[SqlStore]:
    """Another process's store: its own connections and caches."""
    s = open_store(store_url)
    yield s
    s.close()


def test_a_key_revoked_by_the_command_line_fails_its_next_request(
        server: Server, store_url: str, tmp_path: Path) -> None:
    assert server.get().status_code == 200
    assert server.get().status_code == 200  # served from the cache now
    done = subprocess.run([sys.executable, "-m", "kinko", "apikeys", "revoke", server.key.id,
                           "--by", "root"], env={**os.environ, "KINKO_DATABASE_URL": store_url},
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    r = server.get()
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert server.post().status_code == 401


def test_changes_by_another_process_apply_to_the_next_request(
        server: Server, other: SqlStore, tmp_path: Path) -> None:
    ledger = Ledger(other, SystemClock(), AssetRegistry.default())
    custody = Custody(ledger, chain=EvmChain.in_process())
    withdrawals = Withdrawals(custody)
    first = server.post()
    assert first.json()["state"] == "allowed" and first.json()["decision"]["policy_version"] == 1

    # a new policy version, activated by its quorum's approval in another process (it only
    # tightens: in force at once)
    (tmp_path / "p2.toml").write_text(POLICY.format(version=2) + RULES_V2)
    _, proposal = custody.load_policy(tmp_path / "p2.toml", "ops")
    assert proposal is not None
    withdrawals.approve_proposal(proposal.proposal.id, "a",
                                 sign_proposal(proposal.proposal, APPROVER))
    r = server.post()
    assert r.json()["decision"]["policy_version"] == 2 and r.json()["state"] == "review"

    # a new key works at once, too
    token = Access(other, SystemClock()).create_key("late", "auditor")[1]
    assert server.client.get("/v1/breaker", headers={
        "Authorization": f"Bearer {token}"}).status_code == 200

    # a deny list listing the destination
    listed = tmp_path / "deny.csv"
    listed.write_text(f"banned_address,wallet_tag,data_source\n{DEST},Scam,test\n")
    withdrawals.load_deny_list(listed)
    assert server.post("0.1").json()["state"] == "blocked"

    # a new wallet of the exchange's own: not a destination
    mine = "0x" + "77" * 20
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (mine,)))
    r = server.post("0.1", mine)
    assert r.status_code == 422 and "eth-cold" in r.json()["error"]["message"]

    # an incident in which the hot wallet's key leaked
    Incidents(other, SystemClock()).open("key leaked", "carol", asset="ETH", wallet="eth-hot")
    r = server.post("0.1", "0x" + "66" * 20)
    assert r.json()["state"] == "blocked"
    assert any(h["kind"] == "compromised" for h in r.json()["decision"]["hits"])

    # the breaker, tripped by hand elsewhere (last: it holds every request for review)
    assert server.get().json()["tripped"] == []
    withdrawals.trip("ETH", "carol", "drill")
    assert server.get().json()["tripped"] == ["ETH"]
    r = server.post("0.1", "0x" + "55" * 20)
    assert any(h["kind"] == "breaker" for h in r.json()["decision"]["hits"])


def test_what_a_unit_undid_is_never_served(server: Server, other: SqlStore) -> None:
    active = server.custody.policy()
    assert active is not None

    def version(reason: str) -> Any:
        return policy_from_canonical({**active.canonical(), "version": 2, "screening_rules": [
            {"kind": "max_amount", "asset": "ETH", "amount": "0.5", "action": "block",
             "reason": reason}]}, server.ledger.assets)

    undone, kept = version("undone"), version("kept")
    store = server.ledger.store

    def newest() -> Any:  # the stored versions as Custody.policy caches them
        facts = store.cached("policies", lambda u: stored_versions(u.custody, active_assets))
        return max(facts, key=lambda f: f.version).policy

    active_assets = server.ledger.assets

    class Undo(Exception):
        pass

    with pytest.raises(Undo), store.unit() as u:
        u.custody.put_policy(2, undone.digest, undone.canonical(), SystemClock().now(), "t")
        seen = newest()  # read (and cached) inside the unit: its own write
        assert seen is not None and seen.screening_rules[0]["reason"] == "undone"
        raise Undo
    with other.custody() as (_, tables):  # the same stamp again, other content
        tables.put_policy(2, kept.digest, kept.canonical(), SystemClock().now(), "t")
    now = newest()
    assert now is not None and now.screening_rules[0]["reason"] == "kept"


def test_a_request_reads_the_stamps_once_and_again_after_its_own_change(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    store = server.ledger.store
    reads: list[int] = []

    def counted(real: Any) -> Any:
        def read(*args: Any) -> Any:
            reads.append(1)
            return real(*args)
        return read

    # in a thread, on the event loop (SQLite), on the loop's own connection (PostgreSQL)
    for name in ("read", "read_now"):
        monkeypatch.setattr(store._stamp_reader, name, counted(getattr(store._stamp_reader,
                                                                       name)))
    monkeypatch.setattr(_AsyncStamps, "read", counted(_AsyncStamps.read))
    assert server.get().status_code == 200  # the key, the breaker's state and its log
    assert len(reads) == 1
    reads.clear()
    r = server.client.post("/v1/breaker/trip", json={"scope": "ETH", "reason": "drill"},
                           headers={"Authorization": f"Bearer {server.token}"})
    assert r.json()["tripped"] == ["ETH"]  # its own change, read after it committed
    assert len(reads) == 2


def test_a_veto_written_anywhere_moves_the_policies_stamp(server: Server, other: SqlStore) -> None:
    """Which version is in force depends on the vetoes too: a veto recorded by another
    process (or straight into the database) makes every process read the versions again."""
    from kinko.domain.policy_lock import Veto

    before = server.ledger.store.stamps()["policies"]
    with other.custody() as (_, tables):
        tables.put_veto(Veto(2, "a", "00" * 64, SystemClock().now(), "drill"))
    assert server.ledger.store.stamps()["policies"] > before
    with other.engine.begin() as conn:  # not through kinko: the trigger moves it all the same
        conn.exec_driver_sql("DELETE FROM policy_vetoes")
    assert server.ledger.store.stamps()["policies"] > before + 1


def test_requests_waiting_at_once_share_a_stamp_read_that_began_after_they_asked() -> None:
    """A request is answered by a read that began after it asked (so it sees every commit
    made before it arrived); the requests that ask while a read runs share the next one."""
    began: list[asyncio.Event] = []

    async def read() -> dict[str, int]:
        began.append(asyncio.Event())
        n = len(began)
        await began[-1].wait()
        if n == 3:
            raise StoreUnavailable("the database is gone")
        return {"read": n}

    async def settle() -> None:  # every task runs as far as it can
        for _ in range(10):
            await asyncio.sleep(0)

    async def scenario() -> None:
        shared = _SharedRead(read)
        first = [asyncio.create_task(shared.stamps()) for _ in range(3)]  # the same turn
        await settle()
        assert len(began) == 1
        late = [asyncio.create_task(shared.stamps()) for _ in range(5)]  # while it runs
        await settle()
        assert len(began) == 1  # they wait for the next read, not for this one
        began[0].set()
        assert [await t for t in first] == [{"read": 1}] * 3
        await settle()
        assert len(began) == 2 and not any(t.done() for t in late)
        began[1].set()
        assert [await t for t in late] == [{"read": 2}] * 5
        failing = [asyncio.create_task(shared.stamps()) for _ in range(2)]
        await settle()
        began[2].set()  # a failed read fails the requests it answers, not the next ones
        for task in failing:
            with pytest.raises(StoreUnavailable):
                await task
        again = asyncio.create_task(shared.stamps())
        await settle()
        assert len(began) == 4
        began[3].set()
        assert await again == {"read": 4}

    asyncio.run(scenario())


def test_work_on_the_event_loop_never_reads_the_database(store: SqlStore) -> None:
    """Under ``loop_only`` what is cached for the request is served and whatever would read
    the database raises WouldBlock (the caller does it again in a worker thread)."""
    def breaker(u: Any) -> Any:
        return u.screening.tripped()

    with store.one_request():
        with store.loop_only(), pytest.raises(WouldBlock):
            store.stamps()  # not read for this request yet
        asyncio.run(store.request_stamps())
        with store.loop_only(), pytest.raises(WouldBlock):
            store.cached("breaker_events", breaker)  # not cached yet
        assert store.cached("breaker_events", breaker) == {}
        with store.loop_only():
            assert store.cached("breaker_events", breaker) == {}
            with pytest.raises(WouldBlock):
                store.unit(write=False).__enter__()


def test_a_locked_sqlite_database_never_holds_up_the_event_loop(tmp_path: Path) -> None:
    """The stamps read on the event loop never wait for a lock: while another connection
    holds the database they raise WouldBlock (the request reads them in a worker thread)."""
    import sqlite3

    path = tmp_path / "kinko.db"
    migrated_sqlite(path)
    store = open_store(f"sqlite:///{path}")
    try:
        assert store._stamp_reader.read_now()["api_keys"] >= 0
        store._stamp_reader.close()  # a new connection, made while the database is locked
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE stamps SET n = n + 1 WHERE name = 'api_keys'")
        holder.execute("COMMIT")  # exclusive locking mode: held until the mode changes
        with pytest.raises(WouldBlock):
            store._stamp_reader.read_now()
        holder.execute("PRAGMA locking_mode=NORMAL")
        holder.execute("SELECT 1 FROM stamps").fetchall()  # releases it
        holder.close()
        assert store._stamp_reader.read_now() == store._read_stamps()
    finally:
        store.close()


def test_event_loops_that_ended_leave_no_connection_open(server: Server, other: SqlStore,
                                                          store_url: str) -> None:
    """A test client, like any caller that starts an event loop per request, ends each loop:
    the stamps' connection of that loop (on PostgreSQL its own socket, on SQLite its
    thread's) is closed when the next loop comes, not kept until the process ends."""

    def open_connections() -> int:
        if store_url.startswith("sqlite:///"):
            db = os.path.realpath(store_url.removeprefix("sqlite:///"))
            return sum(1 for fd in os.listdir("/proc/self/fd")
                       if os.path.realpath(f"/proc/self/fd/{fd}") == db)
        with other.unit(write=False) as unit:
            return int(unit.conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            ).scalar_one())

    assert server.get().status_code == 200
    before = open_connections()
    for _ in range(40):  # each request on an event loop of its own
        assert server.get().status_code == 200
    assert open_connections() <= before + 1
