"""``kinko cosign serve`` as a real process on a free port, its key generated in a SoftHSM2
token, its own SQLite database, a read-only view of kinko's, against real 2-of-3 Safes on
anvil: a matching withdrawal is co-signed over HTTP and executes; forged, replayed and
altered requests are refused and reach kinko's alerts table from the process itself; callers
without the token, bodies too large or unreadable are refused and recorded; a restart gives
the same answer; a crash between signing and answering never double-signs (the process is
killed at that point); a Unix socket only its user can open; ``kinko cosign verify`` checks
the log and names tampering."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cosignworld import ETH, TOKEN_ENV, XEM, CosignProcess, Exchange, build, cosign_config, fresh
from softhsm import SoftHsm

from kinko.chains.evm import EvmChain
from kinko.cli import main
from kinko.cosign.client import HttpCosigner
from kinko.domain.cosign import CosignRequest
from kinko.errors import CosignerUnavailable, CosignRefused
from kinko.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cosign-process")]
TOKEN = "t" * 20 + os.urandom(16).hex()


@dataclass
class Served:
    ex: Exchange
    folder: Path
    config: Path
    env: dict[str, str]
    address: str
    process: CosignProcess

    def client(self, url: str | None = None, token: str = TOKEN) -> HttpCosigner:
        return HttpCosigner(url or self.process.url, token, expected_signer=self.address)

    def restart(self, **extra_env: str) -> CosignProcess:
        self.process.stop()
        self.process = CosignProcess(self.config, self.env).start(**extra_env)
        return self.process

    def kinko_alerts(self) -> list[dict[str, object]]:
        with self.ex.store.watch(write=False) as tables:
            return [a for a in tables.alerts() if a["kind"] == "cosign_refused"]

    def wait_alerts(self, count: int, timeout: float = 30.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.kinko_alerts()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def decisions(self, request: str) -> list[tuple[str, str]]:
        store = open_store(f"sqlite:///{self.folder / 'cosign.db'}")
        try:
            with store.engine.connect() as conn:
                rows = conn.exec_driver_sql(
                    "SELECT outcome, signature FROM cosign_decisions WHERE request = ? "
                    "ORDER BY seq", (request,)).fetchall()
        finally:
            store.close()
        return [(str(r[0]), str(r[1])) for r in rows]


def _kinko(config: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "kinko", "cosign", *args, "--config",
                           str(config)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, cwd=config.parent)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def served(anvil, hsm: SoftHsm, tmp_path_factory: pytest.TempPathFactory  # type: ignore[no-untyped-def]
           ) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("cosign-process")
    label = f"cosigner-{os.urandom(4).hex()}"
    token_label, pin = next(iter(hsm.pins.items()))  # the session's SoftHSM2 token
    hsm_settings = {"hsm_module": hsm.module, "hsm_token": token_label, "hsm_key": label}
    env = {"KINKO_COSIGN_HSM_PIN": pin, TOKEN_ENV: TOKEN}
    bare = folder / "cosign.toml"
    bare.write_text("".join(f'{k} = "{v}"\n' for k, v in hsm_settings.items()))
    code, out = _kinko(bare, "keygen", env=env)
    assert code == 0, out
    code, address = _kinko(bare, "address", env=env)
    assert code == 0 and address.strip() in out, address
    address = address.strip()
    ex = build(EvmChain.connect(anvil.url), folder, address)
    config = cosign_config(ex, folder, rpc_url=anvil.url, signer="hsm", **hsm_settings)
    served = Served(ex, folder, config, env, address, CosignProcess(config, env).start())
    yield served
    served.process.stop()  # the one running now: a test may have restarted it
    ex.close()


def test_a_matching_withdrawal_is_cosigned_over_http_and_executes(served: Served) -> None:
    ex, cosigner = served.ex, served.client()
    assert cosigner.info()["cosigner"] == served.address
    assert cosigner.info()["key"] == "hsm"
    to = fresh()
    ex.request("P-1", "ETH", 2 * ETH, to)
    tx = ex.eth_tx(to, 2 * ETH)
    signed = cosigner.cosign("withdrawal", "P-1", tx)
    assert signed.signer == served.address and not signed.repeated
    assert ex.execute(tx, signed)
    assert ex.chain.balances([to])[to] == 2 * ETH
    ex.request("P-2", "XEM", 250 * XEM, to)
    xtx = ex.xem_tx(to, 250 * XEM)
    assert ex.execute(xtx, cosigner.cosign("withdrawal", "P-2", xtx))
    assert ex.chain.balances([to], token=ex.token)[to] == 250 * XEM


def test_forged_replayed_and_altered_requests_are_refused_and_alarmed(served: Served) -> None:
    ex, cosigner = served.ex, served.client()
    before = len(served.kinko_alerts())
    thief, to = fresh(), fresh()
    ex.request("P-3a", "ETH", 1 * ETH, to)  # co-signed once, then asked for another SafeTx
    first = ex.eth_tx(to, 1 * ETH)
    assert ex.execute(first, cosigner.cosign("withdrawal", "P-3a", first))
    ex.request("P-3x", "XEM", 1 * XEM, to)  # the XEM Safe has used a nonce (to replay)
    used = ex.xem_tx(to, 1 * XEM)
    assert ex.execute(used, cosigner.cosign("withdrawal", "P-3x", used))
    ex.request("P-3", "XEM", 40 * XEM, to)
    good = ex.xem_tx(to, 40 * XEM)
    assert good.nonce == used.nonce + 1
    cases = [("withdrawal", "P-404", ex.xem_tx(thief, 40 * XEM), "no_such_request"),
             ("withdrawal", "P-3", ex.xem_tx(thief, 40 * XEM), "mismatch"),
             ("withdrawal", "P-3", ex.xem_tx(to, 41 * XEM), "mismatch"),
             ("withdrawal", "P-3", replace(good, operation=1), "forbidden_tx"),
             ("withdrawal", "P-3", replace(good, refund_receiver=thief), "forbidden_tx"),
             ("withdrawal", "P-3", replace(good, chain_id=1), "wrong_chain"),
             ("withdrawal", "P-3", replace(good, nonce=good.nonce - 1), "nonce_used"),
             ("withdrawal", "P-3a", ex.eth_tx(thief, 1 * ETH), "already_signed")]
    for kind, rid, tx, reason in cases:
        with pytest.raises(CosignRefused) as caught:
            cosigner.cosign(kind, rid, tx)
        assert caught.value.reason == reason, caught.value.message
        assert caught.value.details["record"] > 0
    assert ex.chain.balances([thief], token=ex.token)[thief] == 0
    raised = served.wait_alerts(before + len(cases))
    assert len(raised) == before + len(cases)  # from the process itself, not from its caller
    assert all(a["severity"] == "critical" for a in raised[before:])
    assert ex.execute(good, cosigner.cosign("withdrawal", "P-3", good))


def _raw(url: str, request: bytes) -> tuple[int, dict[str, object]]:
    host, port = url[7:].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


def test_the_protocol_refuses_strangers_and_bad_bodies_and_records_them(served: Served) -> None:
    url = served.process.url
    body = json.dumps(CosignRequest("withdrawal", "P-1", served.ex.eth_tx(fresh(), 1)
                                    ).to_json()).encode()

    def post(payload: bytes, token: str | None = TOKEN, extra: str = "") -> tuple[int, dict]:  # type: ignore[type-arg]
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (f"POST /v1/cosign HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json"
                f"\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n{extra}\r\n")
        return _raw(url, head.encode() + payload)

    for token in (None, "wrong" * 10, TOKEN[:-1]):
        status, answer = post(body, token)
        assert status == 401 and answer["error"]["details"]["reason"] == "unauthenticated"  # type: ignore[index]
    status, answer = post(b"x" * 20_000)
    assert status == 413 and answer["error"]["details"]["reason"] == "too_large"  # type: ignore[index]
    assert post(b"{not json")[0] == 400
    assert post(b"[" * 5000 + b"]" * 5000)[0] == 400
    tampered = json.loads(body)
    tampered["safe_tx"]["value"] = "2"
    status, answer = post(json.dumps(tampered).encode())
    assert status == 422 and answer["error"]["details"]["reason"] == "wrong_hash"  # type: ignore[index]
    chunked = (f"POST /v1/cosign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
               "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert _raw(url, chunked.encode())[0] == 400
    assert _raw(url, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == \
        (200, {"status": "ok"})
    assert _raw(url, b"GET /v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 401
    assert _raw(url, b"GET /v1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 404
    with pytest.raises(CosignRefused) as caught:
        served.client(token="not the token at all, but long enough").cosign(
            "withdrawal", "P-1", served.ex.eth_tx(fresh(), 1))
    assert caught.value.reason == "unauthenticated"
    refused = [d for d in served.decisions("") if d[0] == "refused"]
    assert len(refused) >= 9  # each one is a record, whoever sent it


def test_a_restart_gives_the_same_answer(served: Served) -> None:
    ex = served.ex
    to = fresh()
    ex.request("P-5", "ETH", 1 * ETH, to)
    tx = ex.eth_tx(to, 1 * ETH)
    first = served.client().cosign("withdrawal", "P-5", tx)
    served.restart()
    again = served.client().cosign("withdrawal", "P-5", tx)
    assert again.repeated and again.signature == first.signature
    with pytest.raises(CosignRefused) as caught:
        served.client().cosign("withdrawal", "P-5", replace(tx, value=tx.value - 1))
    assert caught.value.reason in ("already_signed", "mismatch")
    assert ex.execute(tx, again)


@pytest.mark.parametrize("point", ["recorded", "signed"])
def test_a_crash_between_signing_and_answering_never_double_signs(served: Served,
                                                                  point: str) -> None:
    ex = served.ex
    to = fresh()
    rid = f"P-crash-{point}"
    ex.request(rid, "XEM", 5 * XEM, to)
    tx = ex.xem_tx(to, 5 * XEM)
    served.restart(KINKO_COSIGN_CRASH_AT=point)
    with pytest.raises(CosignerUnavailable):
        served.client().cosign("withdrawal", rid, tx)
    assert served.process.wait() == -9  # killed at that very point
    kept = served.decisions(f"withdrawal:{rid}")
    assert kept == ([] if point == "signed" else [("signed", kept[0][1])])
    served.restart()
    answer = served.client().cosign("withdrawal", rid, tx)
    assert answer.repeated == (point == "recorded")
    with pytest.raises(CosignRefused):
        served.client().cosign("withdrawal", rid, replace(tx, nonce=tx.nonce + 1))
    signed = [d for d in served.decisions(f"withdrawal:{rid}") if d[0] == "signed"]
    assert len(signed) == 1 and signed[0][1] == "0x" + answer.signature.hex()
    assert ex.execute(tx, answer)


def test_a_unix_socket_only_its_user_may_open(served: Served) -> None:
    path = served.folder / "cosign.sock"
    unix = CosignProcess(served.config, served.env)
    served.process.stop()
    unix.start(KINKO_COSIGN_LISTEN=f"unix:{path}")
    try:
        assert unix.url == f"unix:{path}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        ex = served.ex
        to = fresh()
        ex.request("P-6", "ETH", 1 * ETH, to)
        tx = ex.eth_tx(to, 1 * ETH)
        assert ex.execute(tx, served.client(unix.url).cosign("withdrawal", "P-6", tx))
    finally:
        unix.stop()
    assert not path.exists()
    served.process = CosignProcess(served.config, served.env).start()


def test_policies_show_their_digests_and_lineage(served: Served, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    active = served.ex.custody.policy()
    assert active is not None
    config = str(served.config)
    assert main(["cosign", "policies", "--config", config, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["digest"], r["descends from the anchor"], r["state"])
            for r in rows] == [(active.version, active.digest, "-", "effective")]
    monkeypatch.setenv("KINKO_COSIGN_POLICY_ANCHOR", active.digest)
    assert main(["cosign", "policies", "--config", config, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["descends from the anchor"] == "anchor"
    monkeypatch.setenv("KINKO_COSIGN_POLICY_ANCHOR", "not a digest")
    assert main(["cosign", "policies", "--config", config]) == 2


def test_verify_checks_the_log_and_names_tampering(served: Served,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(6):  # at least a few records, whatever ran before
        with pytest.raises(CosignRefused):
            served.client(token="y" * 40).cosign("withdrawal", "P-1", served.ex.eth_tx(fresh(), 1))
    served.process.stop()
    config = str(served.config)
    assert main(["cosign", "verify", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "co-signer log OK" in out
    head = out.split("head ")[1].split()[0]
    assert main(["cosign", "verify", "--config", config, "--anchor", head]) == 0
    assert "is in the log" in capsys.readouterr().out
    assert main(["cosign", "log", "--config", config, "--refused", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["outcome"] == "refused" for r in rows)
    store = open_store(f"sqlite:///{served.folder / 'cosign.db'}")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cosign_decisions SET amount = '1' WHERE seq = 2")
        conn.exec_driver_sql("DELETE FROM cosign_decisions WHERE seq = 4")
    store.close()
    assert main(["cosign", "verify", "--config", config]) == 1
    out = capsys.readouterr().out
    assert "CO-SIGNER LOG TAMPERED: first problem at record 2" in out
    assert "record 4 missing" in out
    assert main(["cosign", "verify", "--config", config, "--anchor", "2:" + "0" * 64]) == 1
    assert main(["cosign", "verify", "--config", config, "--anchor", "x"]) == 2
    store = open_store(f"sqlite:///{served.folder / 'cosign.db'}")
    with store.engine.begin() as conn:  # the last signature forgotten: it must not start
        conn.exec_driver_sql("DELETE FROM cosign_decisions WHERE seq = "
                             "(SELECT MAX(seq) FROM cosign_decisions)")
    store.close()
    with pytest.raises(RuntimeError, match="was cut or rewritten"):
        CosignProcess(served.config, served.env).start()
