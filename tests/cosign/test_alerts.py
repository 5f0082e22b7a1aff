"""The co-signer's alerts: queued in the same commit as the refusal, delivered to each sink
until it takes them (a failing sink is retried with backoff, never dropped), its own webhook
signed so the receiver can tell it came from the co-signer, strangers' refusals alerted at
most once a minute per reason while each stays a record."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kinko.chains.keystore import throwaway_signer
from kinko.domain.cosign import CosignPolicy
from kinko.errors import ConfigError
from kinko.ports import FixedClock
from kinko.services.cosign import AlertDelivery, CosignService, WebhookSink
from kinko.services.notify import verify_webhook
from kinko.store.cosign_sql import SqlCosignLog, open_cosign_log

SECRET = "the co-signer's webhook secret"


class Receiver:
    def __init__(self) -> None:
        self.statuses = [500, 200]  # fails once, then takes it
        self.received: list[tuple[dict[str, Any], bool]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_webhook(SECRET, self.headers["X-Kinko-Timestamp"], body,
                                    self.headers["X-Kinko-Signature"])
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.received.append((json.loads(body), ok))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cosign"


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[CosignService, SqlCosignLog, FixedClock, Receiver]]:
    clock = FixedClock()
    log = open_cosign_log(f"sqlite:///{tmp_path / 'cosign.db'}")
    service = CosignService(policy=CosignPolicy("ethereum", {}), kinko=None,  # type: ignore[arg-type]
                            chain=None, log=log, signer=throwaway_signer(),  # type: ignore[arg-type]
                            clock=clock, sinks=("webhook",))
    receiver = Receiver()
    yield service, log, clock, receiver
    receiver.server.shutdown()
    log.close()


def test_a_refusal_reaches_the_webhook_signed_after_a_failure(parts) -> None:  # type: ignore[no-untyped-def]
    service, log, clock, receiver = parts
    delivery = AlertDelivery(log, {"webhook": WebhookSink(receiver.url, SECRET, clock)}, clock)
    refusal = service.refuse_unread("malformed", "the body is not JSON", "token@127.0.0.1:9")
    assert refusal.details["record"] == 1 and service.alerted.is_set()
    assert delivery.deliver_due() == 0  # HTTP 500: kept, retried in 1 s
    assert delivery.deliver_due() == 0  # not due yet
    clock.advance(seconds=1)
    assert delivery.deliver_due() == 1
    (alert, signed), = receiver.received
    assert signed and alert["reason"] == "malformed" and alert["record"] == 1
    assert alert["log_head"]["seq"] == 1 and alert["cosigner"] == service.address
    with log.transaction(write=False) as tables:
        rows = tables.alerts()
    assert [(r["state"], r["attempts"]) for r in rows] == [("sent", 2)]
    assert SECRET not in repr(WebhookSink(receiver.url, SECRET, clock))
    with pytest.raises(ConfigError):
        WebhookSink(receiver.url, "", clock)


def test_strangers_are_alerted_once_a_minute_per_reason(parts) -> None:  # type: ignore[no-untyped-def]
    service, log, clock, _receiver = parts
    for _ in range(5):
        service.refuse_unread("unauthenticated", "no valid token", "anonymous@127.0.0.1:9")
    service.refuse_unread("malformed", "not JSON", "token@127.0.0.1:9")
    service.refuse_unread("malformed", "not JSON", "token@127.0.0.1:9")
    clock.advance(minutes=1)
    service.refuse_unread("unauthenticated", "no valid token", "anonymous@127.0.0.1:9")
    with log.transaction(write=False) as tables:
        records = tables.records()
        queued = [r["reason"] for r in tables.alerts()]
    assert len(records) == 8 and all(r.outcome == "refused" for r in records)
    assert [r.alerted for r in records] == [True, False, False, False, False, True, True, True]
    assert queued == ["unauthenticated", "malformed", "malformed", "unauthenticated"]
