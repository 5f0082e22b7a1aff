"""kinko's client of the co-signer trusts its answers no more than the co-signer trusts its
questions: a signature that is not the co-signer's over this SafeTx, an answer for another
request, garbage or silence are ``CosignerUnavailable``; a refusal keeps its reason and
record. (The server here is a stand-in that answers what each case needs; the real one is
exercised in test_process.py.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kinko.chains.keystore import throwaway_signer
from kinko.cli.runtime import Runtime
from kinko.cosign.client import HttpCosigner
from kinko.domain.safe import SafeTx
from kinko.errors import ConfigError, CosignerUnavailable, CosignRefused
from kinko.settings import load_settings

TX = SafeTx(safe="0x" + "11" * 20, chain_id=1, to="0x" + "22" * 20, value=5, data=b"", nonce=3)
KEY, OTHER = throwaway_signer(), throwaway_signer()
Answer = Callable[[dict[str, Any], dict[str, str]], tuple[int, bytes]]


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload = answer(body, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()


def signed(signer: Any = KEY, **change: Any) -> Answer:
    def answer(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
        assert headers["Authorization"] == "Bearer " + "k" * 40
        digest = bytes.fromhex(body["safe_tx_hash"][2:])
        reply = {"decision": "signed", "request": f"{body['kind']}:{body['id']}",
                 "safe_tx_hash": body["safe_tx_hash"], "signer": KEY.address,
                 "signature": "0x" + signer.sign_digest(digest).hex(), "record": 7, **change}
        return 200, json.dumps(reply).encode()
    return answer


def test_a_good_answer_and_what_is_not_one(serve: Callable[[Answer], str]) -> None:
    good = HttpCosigner(serve(signed()), "k" * 40, expected_signer=KEY.address)
    answer = good.cosign("withdrawal", "W-1", TX)
    assert answer.signer == KEY.address and answer.record == 7 and not answer.repeated
    assert "k" * 40 not in repr(good)
    bad: list[Answer] = [
        signed(OTHER),  # not the co-signer's signature
        signed(safe_tx_hash="0x" + "00" * 32),  # for another SafeTx
        signed(request="withdrawal:W-2"),  # for another request
        signed(signature="0x1234"),
        lambda _b, _h: (200, b"not json"),
        lambda _b, _h: (200, b"{}"),
        lambda _b, _h: (500, b'{"error": {"code": "x", "message": "boom"}}'),
        lambda _b, _h: (200, b"{" + b" " * 70_000 + b"}"),
    ]
    for answer_with in bad:
        with pytest.raises(CosignerUnavailable):
            HttpCosigner(serve(answer_with), "k" * 40,
                         expected_signer=KEY.address).cosign("withdrawal", "W-1", TX)
    other_owner = HttpCosigner(serve(signed()), "k" * 40, expected_signer=OTHER.address)
    with pytest.raises(CosignerUnavailable, match="is not"):
        other_owner.cosign("withdrawal", "W-1", TX)


def test_a_refusal_keeps_its_reason_and_record(serve: Callable[[Answer], str]) -> None:
    refusal = {"error": {"code": "cosign_refused", "message": "the global breaker is tripped",
                         "details": {"reason": "breaker_tripped", "record": 12}}}
    url = serve(lambda _b, _h: (403, json.dumps(refusal).encode()))
    with pytest.raises(CosignRefused) as caught:
        HttpCosigner(url, "k" * 40).cosign("proposal", "sweep-1", TX)
    assert caught.value.reason == "breaker_tripped" and caught.value.details["record"] == 12


def test_nobody_listening_and_bad_settings() -> None:
    with pytest.raises(CosignerUnavailable, match="did not answer"):
        HttpCosigner("http://127.0.0.1:9", "k" * 40, timeout=2).cosign("withdrawal", "W", TX)
    with pytest.raises(CosignerUnavailable):
        HttpCosigner("unix:/nonexistent/cosign.sock", "k" * 40).cosign("withdrawal", "W", TX)
    for url in ("https://cosigner:8765", "127.0.0.1:8765", "http://nohost"):
        with pytest.raises(ConfigError):
            HttpCosigner(url, "k" * 40)
    with pytest.raises(ConfigError, match="KINKO_COSIGN_TOKEN"):
        HttpCosigner("http://127.0.0.1:1", "")


def test_kinko_finds_its_cosigner_in_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Runtime(load_settings(config_path=None, env={})).cosigner() is None
    monkeypatch.setenv("KINKO_COSIGN_TOKEN", "k" * 40)
    found = Runtime(load_settings(config_path=None, env={
        "KINKO_COSIGNER_URL": "unix:/run/kinko/cosign.sock"})).cosigner()
    assert isinstance(found, HttpCosigner) and found.url == "unix:/run/kinko/cosign.sock"
