"""Node errors, timeouts and rate limits are retried with backoff, then reported (exit 3)."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from kinko.chains.evm import EvmChain, Transient
from kinko.chains.retry import Retrying
from kinko.errors import ChainRejected, ChainUnavailable


class Flaky:
    name = "ethereum"

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error or Transient("node at x did not answer the head block number")

    def head(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return 42


def test_transient_failures_are_retried_with_growing_waits() -> None:
    waits: list[float] = []
    inner = Flaky(3)
    chain = Retrying(inner, attempts=5, base_delay=0.1, sleep=waits.append)  # type: ignore[arg-type]
    assert chain.head() == 42
    assert waits == [0.1, 0.2, 0.4] and inner.calls == 4


def test_gives_up_with_an_environment_error() -> None:
    waits: list[float] = []
    chain = Retrying(Flaky(99), attempts=3, sleep=waits.append)  # type: ignore[arg-type]
    with pytest.raises(ChainUnavailable, match="gave up after 3 attempts"):
        chain.head()
    assert len(waits) == 2


def test_the_watchs_optional_reads_are_retried_and_absent_when_the_chain_lacks_them() -> None:
    class WithState(Flaky):
        def states(self, addresses: list[str], tokens: list[str], block: int) -> str:
            return f"{self.head()}:{addresses}:{block}"

    waits: list[float] = []
    chain = Retrying(WithState(2), sleep=waits.append)  # type: ignore[arg-type]
    assert chain.states(["0xa"], [], 7) == "42:['0xa']:7" and len(waits) == 2
    assert getattr(Retrying(Flaky(0)), "states", None) is None  # type: ignore[arg-type]
    assert getattr(chain, "send_raw_unchecked", None) is None  # only reads are forwarded


def test_refusals_are_not_retried() -> None:
    inner = Flaky(5, ChainRejected("nonce too low"))
    with pytest.raises(ChainRejected):
        Retrying(inner, sleep=lambda _s: None).head()  # type: ignore[arg-type]
    assert inner.calls == 1


def test_unreachable_node_is_an_environment_error() -> None:
    import anvilnode

    chain = Retrying(EvmChain.connect(f"http://127.0.0.1:{anvilnode.free_port()}", timeout=1),
                     attempts=2, sleep=lambda _s: None)
    with pytest.raises(ChainUnavailable, match="did not answer"):
        chain.head()


@pytest.fixture
def rate_limited_proxy(anvil) -> Iterator[tuple[str, list[int]]]:  # type: ignore[no-untyped-def]
    """A local HTTP proxy to anvil that answers 429 to the first two requests."""
    answered: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if len(answered) < 2:
                answered.append(429)
                self.send_response(429)
                self.end_headers()
                return
            req = urllib.request.Request(anvil.url, data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                data = resp.read()
            answered.append(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answered
    server.shutdown()


def test_http_429_is_retried_against_a_real_node(rate_limited_proxy) -> None:  # type: ignore[no-untyped-def]
    url, answered = rate_limited_proxy
    waits: list[float] = []
    chain = Retrying(EvmChain.connect(url), attempts=4, sleep=waits.append)
    assert chain.head() >= 0
    assert answered[:3] == [429, 429, 200] and len(waits) == 2
    assert json.dumps(answered)
