"""Peers kinko does not control are given a deadline for the whole exchange, not only for
each read: a webhook receiver (the watch's, the co-signer's) or a co-signer that sends its
answer a byte at a time, each just before a read would time out, is cut off three
time-outs after the connection was made, and the caller is told, instead of waiting for as
long as the peer likes (the thread delivering the operators' alerts, or sending
withdrawals, stuck on it). A co-signer's answer nested without end is refused, not parsed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from kinko.cosign.client import HttpCosigner
from kinko.deadline import cut_at
from kinko.domain.safe import SafeTx
from kinko.errors import CosignerUnavailable
from kinko.ports import FixedClock
from kinko.services.cosign import WebhookSink
from kinko.services.notify import Webhook
from kinko.store import SqlStore

TIMEOUT = 0.4  # each read's; the whole exchange: 1.2 s


class _Trickle:
    """A server that reads a request, then answers ``answer`` a byte every ``pace``
    seconds (each well within a read's time-out), for as long as the client listens."""

    def __init__(self, answer: bytes, pace: float = 0.1) -> None:
        self.answer, self.pace = answer, pace
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.cut = threading.Event()  # the client hung up before the answer's end
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                if not self.pace:
                    conn.sendall(self.answer)
                for i in range(len(self.answer) if self.pace else 0):
                    conn.sendall(self.answer[i : i + 1])
                    time.sleep(self.pace)
            except OSError:
                self.cut.set()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def trickle() -> Iterator[_Trickle]:
    # a status line and headers that would take 40 s at this pace
    server = _Trickle(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 400 + b"\r\n\r\n{}")
    yield server
    server.close()


def _within(seconds: float, started: float) -> None:
    took = time.monotonic() - started
    assert took < seconds, f"{took:.1f} s"


def test_a_cosigner_that_trickles_its_answer_is_cut_off(trickle: _Trickle,
                                                        no_hang: None) -> None:
    cosigner = HttpCosigner(trickle.url, "k" * 40, timeout=TIMEOUT)
    tx = SafeTx(safe="0x" + "11" * 20, chain_id=1, to="0x" + "22" * 20, value=5, data=b"",
                nonce=3)
    started = time.monotonic()
    with pytest.raises(CosignerUnavailable, match=r"did not answer within 1\.2 s"):
        cosigner.cosign("withdrawal", "W-1", tx)
    _within(3 * TIMEOUT + 2, started)
    assert trickle.cut.wait(5)


def test_a_webhook_receiver_that_trickles_is_cut_off(trickle: _Trickle, no_hang: None) -> None:
    sink = WebhookSink(trickle.url, "s" * 32, FixedClock(), timeout=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        sink.deliver({"kind": "refused"})
    _within(3 * TIMEOUT + 2, started)


def test_the_watchs_webhook_retries_a_receiver_that_trickles(trickle: _Trickle,
                                                             store: SqlStore,
                                                             no_hang: None) -> None:
    clock = FixedClock(datetime(2026, 12, 6, tzinfo=UTC))
    hook = Webhook(store, clock, trickle.url, "s" * 32, timeout=TIMEOUT)
    with store.watch() as tables:  # as notify queues it (without its delivery thread)
        tables.queue_notification("A-1", '{"alert": "A-1"}', clock.now())
    started = time.monotonic()
    assert hook.deliver_due()
    _within(3 * TIMEOUT + 2, started)
    with store.watch(write=False) as tables:
        row = tables.notifications()[0]
    assert (row["state"], row["attempts"]) == ("queued", 1)
    assert row["last_error"]


def test_a_cosigners_answer_nested_without_end_is_refused() -> None:
    nested = b"[" * 30_000 + b"]" * 30_000  # within the most it reads of an answer
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(nested)
    server = _Trickle(head + nested, pace=0)
    try:
        tx = SafeTx(safe="0x" + "11" * 20, chain_id=1, to="0x" + "22" * 20, value=5,
                    data=b"", nonce=3)
        with pytest.raises(CosignerUnavailable, match="not JSON kinko reads"):
            HttpCosigner(server.url, "k" * 40, timeout=5).cosign("withdrawal", "W-1", tx)
    finally:
        server.close()


def test_a_deadline_cancelled_in_time_leaves_the_socket_alone() -> None:
    kept_a, peer_a = socket.socketpair()
    cut_b, peer_b = socket.socketpair()
    with kept_a, peer_a, cut_b, peer_b:
        cut_at(kept_a, 0.05).cancel()
        deadline = cut_at(cut_b, 0.05)
        time.sleep(0.5)
        assert deadline.passed
        peer_a.sendall(b"x")
        assert kept_a.recv(1) == b"x"  # still open
        assert cut_b.recv(1) == b""  # shut down: its reads end
