"""``kinko serve`` killed with SIGKILL in the middle of a burst of withdrawal requests (real
processes, on SQLite and on PostgreSQL), then every request retried with its
Idempotency-Key: every answered request is stored as answered (requests' writes are
committed in groups, and each is answered only once its group is durable: a group cut by
the kill answered nobody), no hold without its withdrawal (nor a withdrawal without its
hold), every retry gets the first answer its request got, every withdrawal has exactly one
audit record, the audit chain and ``kinko ledger verify`` pass."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import loopback
import pytest

from kinko.chains.evm import EvmChain
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import SystemClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.store import SqlStore

pytestmark = pytest.mark.slow

E = 10**18
CUSTOMERS = 20
KEYS = 300
CLIENTS = 16
HOT = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"


class Server:
    """``kinko serve`` as an operator starts it, in its own process."""

    def __init__(self, url: str, folder: Path) -> None:
        import anvilnode

        self.port = anvilnode.free_port()
        self.env = {**os.environ, "KINKO_DATABASE_URL": url, "KINKO_DATA_DIR": str(folder)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kinko", "serve", "--no-dashboard", "--port",
             str(self.port)], env=self.env, cwd=folder, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read()  # type: ignore[union-attr]
            try:
                if loopback.get(f"{self.base}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "kinko serve did not start"
            time.sleep(0.1)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def _request(i: int) -> dict[str, str]:
    # every fourth one is large enough to be held for review (a proposal is made too)
    return {"customer": f"C{i % CUSTOMERS}", "asset": "ETH",
            "amount": "20" if i % 4 == 0 else "1", "destination": f"0x{i + 1:040x}"}


def _post(client: httpx.Client, token: str, i: int) -> tuple[int, Any]:
    r = client.post("/v1/withdrawals", json=_request(i), headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": f"K-{i}"})
    return r.status_code, r.json()


def _burst(server: Server, token: str, keys: list[int], answers: dict[int, tuple[int, Any]],
           lock: threading.Lock) -> None:
    """Send every key once from CLIENTS connections until the server dies; keep the
    first answer of each."""

    def worker(mine: list[int]) -> None:
        with loopback.client(server.base, timeout=30) as client:
            for i in mine:
                try:
                    answer = _post(client, token, i)
                except httpx.HTTPError:
                    return  # killed: the rest are left unanswered
                with lock:
                    answers.setdefault(i, answer)

    threads = [threading.Thread(target=worker, args=(keys[n::CLIENTS],))
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    target = len(answers) + len(keys) // 4
    deadline = time.monotonic() + 120
    while len(answers) < target and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill()  # in the middle of the burst: CLIENTS requests in flight
    for t in threads:
        t.join(60)


def test_sigkill_during_a_burst_of_withdrawal_requests(store: SqlStore, store_url: str,
                                                       tmp_path: Path) -> None:
    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (HOT,)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", CUSTOMERS * 10_000 * E),
                         *(Posting(f"customer:C{c}", "ETH", -10_000 * E)
                           for c in range(CUSTOMERS))], source="opening")
    (tmp_path / "p.toml").write_text(
        'version = 1\nquorum = 2\n[[approvers]]\nname = "a"\npublic_key = "' + "ab" * 32
        + '"\n[[approvers]]\nname = "b"\npublic_key = "' + "cd" * 32 + '"\n'
        '[[screening.rules]]\nkind = "max_amount"\nasset = "ETH"\namount = "10"\n'
        'action = "review"\n')
    Custody(ledger, chain=EvmChain.in_process()).load_policy(tmp_path / "p.toml", "ops")
    access = Access(store, SystemClock())
    token = access.create_key("ops", "operator")[1]

    answers: dict[int, tuple[int, Any]] = {}
    lock = threading.Lock()
    _burst(Server(store_url, tmp_path), token, list(range(KEYS)), answers, lock)
    assert 0 < len(answers) < KEYS, "the kill did not land mid-burst"
    # what was answered was durable first (its batch committed before the answer): all of
    # it is there after the kill, before any retry; a batch cut by the kill answered nobody
    with store.unit(write=False) as u:
        found = {i: u.screening.withdrawal(f"K-{i}") for i in answers}
    lost = [i for i, (status, _) in answers.items() if status == 201 and found[i] is None]
    assert not lost, f"answered but not stored: {lost[:5]}"
    assert all(found[i]["state"] == body["state"] for i, (_, body) in answers.items())  # type: ignore[index]

    server = Server(store_url, tmp_path)
    try:
        def retry(part: list[int]) -> dict[int, tuple[int, Any]]:
            with loopback.client(server.base, timeout=60) as client:
                return {i: _post(client, token, i) for i in part}

        with ThreadPoolExecutor(max_workers=8) as pool:
            retried = {i: a for part in pool.map(retry, [list(range(KEYS))[n::8]
                                                         for n in range(8)])
                       for i, a in part.items()}
    finally:
        server.stop()
    wrong = {i: (answers[i], retried[i]) for i in answers if retried[i] != answers[i]}
    assert not wrong, f"{len(wrong)} retries did not get their first answer, e.g. " \
                      f"{next(iter(wrong.items()))}"
    assert {status for status, _ in retried.values()} == {201}
    assert Counter(body["state"] for _, body in retried.values()) == {
        "review": KEYS // 4, "allowed": KEYS - KEYS // 4}

    with store.unit(write=False) as u:
        withdrawals = {r["id"] for s in ("review", "allowed")
                       for r in u.screening.withdrawals(s, limit=10_000)}
        holds = {h.id.removeprefix("withdrawal:") for h in u.ledger.pending_holds()}
        proposals = {p[0].id for p in u.custody.proposals("pending")}
    assert withdrawals == holds == {f"K-{i}" for i in range(KEYS)}  # no hold alone
    assert proposals == {f"withdrawal-K-{i}" for i in range(0, KEYS, 4)}
    audited = Counter(a["target"] for a in access.audit_log(limit=10_000)
                      if a["action"] == "withdrawal.request")
    assert audited == {f"K-{i}": 1 for i in range(KEYS)}
    # `kinko audit verify` is not a command yet: the audit chain is checked in process
    assert access.verify_audit() == []
    verify = subprocess.run([sys.executable, "-m", "kinko", "ledger", "verify"],
                            env=server.env, cwd=tmp_path, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
