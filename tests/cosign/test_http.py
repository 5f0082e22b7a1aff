"""The co-signer's HTTP face against hostile and clumsy clients, served as ``kinko cosign
serve`` serves it (uvicorn's h11 with kinko's deadline, 64 places, 8 KiB heads) in a thread
of the test process, with a co-signer that has no chain and no kinko database behind it (the
refusals here come before either is asked): its own database away is a 503 (never a 500 and
a traceback), the names a request gives are never written raw to its log, the health check
answers ``HEAD``, a stranger trying a token on ``/v1/info`` is a record."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cosignhttp import serve_cosigner
from sqlalchemy import create_engine

from kinko.chains.keystore import throwaway_signer
from kinko.domain.cosign import CosignPolicy
from kinko.ports import FixedClock
from kinko.services.cosign import CosignService
from kinko.store.cosign_sql import SqlCosignLog, open_cosign_log

TOKEN = "k" * 48


@dataclass
class Face:
    port: int
    log: SqlCosignLog

    def raw(self, request: bytes) -> tuple[int, dict[str, Any], bytes]:
        """(status, JSON body or {}, the head) of one request on its own connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        is_json = b"application/json" in head.lower() and body
        return int(head.split()[1]), json.loads(body) if is_json else {}, head

    def ask(self, method: str, path: str, body: bytes = b"", token: str | None = TOKEN
            ) -> tuple[int, dict[str, Any], bytes]:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        length = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
        return self.raw(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}{length}"
                        "Connection: close\r\n\r\n".encode() + body)

    def refusals(self) -> list[tuple[str, str, str]]:
        with self.log.transaction(write=False) as tables:
            return [(r.caller, r.reason, r.detail) for r in tables.records()
                    if r.outcome == "refused"]


@pytest.fixture
def face(tmp_path: Path) -> Iterator[Face]:
    log = open_cosign_log(f"sqlite:///{tmp_path / 'cosign.db'}")
    service = CosignService(policy=CosignPolicy("ethereum", {}), kinko=None,  # type: ignore[arg-type]
                            chain=None, log=log, signer=throwaway_signer(),  # type: ignore[arg-type]
                            clock=FixedClock(), sinks=())
    url, stop = serve_cosigner(service, TOKEN, timeout=2.0)
    yield Face(int(url.rsplit(":", 1)[1]), log)
    stop()
    log.close()


def test_its_own_database_away_is_a_503_not_a_500(face: Face, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(face.log, "engine", create_engine("sqlite:////nonexistent/kinko/x.db"))
    with caplog.at_level(logging.ERROR):
        for method, path, token in [("POST", "/v1/cosign", None), ("POST", "/v1/cosign", TOKEN),
                                    ("GET", "/v1/info", TOKEN)]:
            status, answer, _head = face.ask(method, path, b"{not json", token=token)
            assert status == 503, (method, path, token, answer)
            assert "unavailable" in answer["error"]["message"]
    assert not any(r.exc_info for r in caplog.records)  # no traceback: an answer, logged
    assert TOKEN not in caplog.text


def test_names_a_caller_sends_reach_the_log_escaped_and_cut(face: Face,
                                                            caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    forged = "x\n2026-01-01 00:00:00 WARNING SIGNED withdrawal:W-9\r\x1b[2K"
    bodies = [{"kind": "withdrawal", "id": "W-1", forged: 1},
              {"kind": "withdrawal", "id": "W-1", "safe_tx": {forged: 1}, "safe_tx_hash": "0x"},
              {"kind": "withdrawal", "id": "W-1", **{f"f{i}": i for i in range(500)}}]
    with caplog.at_level(logging.WARNING, logger="kinko.cosign"):
        for body in bodies:
            status, answer, _head = face.ask("POST", "/v1/cosign", json.dumps(body).encode())
            assert status == 400 and answer["error"]["details"]["reason"] == "malformed"
            assert "\n" not in answer["error"]["message"]
    assert "unknown field(s) 'x\\n2026" in caplog.text and "f101 and 495 more" in caplog.text
    assert not any(c in r.getMessage() for r in caplog.records for c in "\n\r\x1b")
    assert all(len(detail) < 300 and "\n" not in detail for *_, detail in face.refusals())


def test_a_long_value_quoted_in_a_refusal_is_cut(face: Face) -> None:
    fields = ("chain_id", "value", "nonce", "safe_tx_gas", "base_gas", "gas_price")
    tx = {**dict.fromkeys(fields, "0"), "safe": "0x" + "a" * 12_000, "to": "0x" + "b" * 40,
          "data": "0x", "operation": 0, "gas_token": "0x" + "0" * 40,
          "refund_receiver": "0x" + "0" * 40}
    bodies = [{"kind": "withdrawal", "id": "W-1", "safe_tx": tx, "safe_tx_hash": "0x" + "0" * 64},
              {"kind": "withdrawal", "id": "W-1", "nem_transfer": {"chain": "n" * 12_000,
                                                                    "data": "00"},
               "inner_hash": "0"}]
    for body in bodies:
        status, answer, _head = face.ask("POST", "/v1/cosign", json.dumps(body).encode())
        assert status == 400 and len(answer["error"]["message"]) <= 500
    assert [len(detail) for *_, detail in face.refusals()] == [500, 500]


def test_the_health_check_answers_head_and_names_its_methods(face: Face) -> None:
    assert face.ask("GET", "/v1/health", token=None)[:2] == (200, {"status": "ok"})
    status, answer, head = face.ask("HEAD", "/v1/health", token=None)
    assert status == 200 and answer == {} and b"content-length: 16" in head.lower()
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        status, answer, _head = face.ask(method, "/v1/health", token=None)
        assert status == 405 and answer["error"]["code"] == "method_not_allowed", method
    assert face.ask("GET", "/v1/health/", token=None)[0] == 404


def test_a_stranger_trying_tokens_on_info_is_a_record(face: Face) -> None:
    for token in (None, "wrong" * 10, TOKEN[:-1], TOKEN + "x"):
        status, answer, _head = face.ask("GET", "/v1/info", token=token)
        assert status == 401 and answer["error"]["details"]["reason"] == "unauthenticated"
    assert face.ask("GET", "/v1/info")[0] == 200
    refused = face.refusals()
    assert len(refused) == 4 and all(c.startswith("anonymous@") and r == "unauthenticated"
                                     and "/v1/info" in d for c, r, d in refused)
