"""kinko's servers give each request a deadline to arrive whole (``kinko.cli.timely``): a
connection that sends nothing, or trickles a request's head or body, is disconnected once
it passes; a client that sends in time is served, however long the answer takes, and may
keep its connection for its next request. A request that cannot be parsed is answered 400
with the headers of every other answer (``nosniff``, ``no-store``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pidapp import kinko_serving, listening

# tests/pidapp.py served with the deadline kinko's servers use, of one second
_SERVER = """
import sys, uvicorn
from kinko.cli.timely import ServerConfig
from kinko.cli.listening import listen_tcp
sock = listen_tcp("127.0.0.1", int(sys.argv[1]), setting="port")
uvicorn.Server(ServerConfig("pidapp:app", read_seconds=1, log_level="warning")).run(
    sockets=[sock])
"""


@contextmanager
def _server() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while listening(port) < 1:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _closed_after(conn: socket.socket, trickle: bytes = b"", every: float = 0.2,
                  within: float = 10) -> float:
    """Seconds until the server closes ``conn`` (sending ``trickle`` a byte at a time,
    every ``every`` seconds, meanwhile); what it sent before closing must be nothing."""
    start = time.monotonic()
    conn.setblocking(False)
    sent = 0
    while time.monotonic() - start < within:
        try:
            got = conn.recv(4096)
            assert got == b"", got  # closed, without an answer
            return time.monotonic() - start
        except BlockingIOError:
            pass
        except ConnectionResetError:
            return time.monotonic() - start
        if sent < len(trickle):
            try:
                conn.send(trickle[sent:sent + 1])
            except OSError:
                return time.monotonic() - start
            sent += 1
        time.sleep(every)
    raise AssertionError(f"still open after {within} s")


def _ask(conn: socket.socket, path: str = "/", body: bytes = b"") -> bytes:
    conn.sendall(f"POST {path} HTTP/1.1\r\nHost: kinko\r\nContent-Length: {len(body)}"
                 "\r\n\r\n".encode() + body)
    got = b""
    while b"\r\n\r\n" not in got or not got.split(b"\r\n\r\n", 1)[1]:
        chunk = conn.recv(4096)
        assert chunk, got
        got += chunk
    return got


@pytest.mark.slow
def test_late_requests_are_disconnected_timely_ones_served() -> None:
    with _server() as port:
        def connect() -> socket.socket:
            return socket.create_connection(("127.0.0.1", port), timeout=10)

        # nothing sent at all; a head a byte at a time; a body a byte at a time
        head = b"POST / HTTP/1.1\r\nHost: kinko\r\nX-Padding: " + b"a" * 100
        body = b"POST / HTTP/1.1\r\nHost: kinko\r\nContent-Length: 100\r\n\r\n" + b"b" * 100
        for trickle in (b"", head, body):
            with connect() as conn:
                if trickle is body:  # the head at once, then the body trickles
                    conn.sendall(body[:body.index(b"\r\n\r\n") + 4])
                    trickle = b"b" * 100
                took = _closed_after(conn, trickle)
                assert 0.8 < took < 3, (trickle[:20], took)
        # a timely client: served, its connection kept for the next request, and an
        # answer that takes longer than the deadline is not cut
        with connect() as conn:
            assert _ask(conn, body=b"x" * 10).startswith(b"HTTP/1.1 200")
            time.sleep(0.6)
            assert _ask(conn, "/slow").startswith(b"HTTP/1.1 200")
            time.sleep(0.6)
            assert _ask(conn).startswith(b"HTTP/1.1 200")
            # idle after its answer past the deadline: disconnected like any other
            took = _closed_after(conn)
            assert took < 3, took


@pytest.mark.slow
def test_kinko_serve_disconnects_a_client_later_than_its_setting(tmp_path: Path) -> None:
    with kinko_serving(tmp_path, {"KINKO_REQUEST_READ_SECONDS": "1"}) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            assert _ask(conn, "/openapi.json").startswith(b"HTTP/1.1 405")  # answered
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            took = _closed_after(conn, b"GET /openapi.json HTTP/1.1\r\nHost: k\r\n")
            assert 0.8 < took < 3, took


@pytest.mark.slow
def test_a_request_that_cannot_be_parsed_is_answered_400_with_the_servers_headers() -> None:
    with _server() as port:
        for bad in (b"GET / HTTP/1.1\r\nHost: kinko\r\nBad Header\r\n\r\n",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(bad)
                got = b""
                while chunk := conn.recv(4096):  # the server closes after it
                    got += chunk
            head = got.split(b"\r\n\r\n", 1)[0].lower()
            assert head.startswith(b"http/1.1 400"), got
            assert b"\r\nx-content-type-options: nosniff" in head, got
            assert b"\r\ncache-control: no-store" in head, got
            assert b"\r\ncontent-type: text/plain; charset=utf-8" in head, got
