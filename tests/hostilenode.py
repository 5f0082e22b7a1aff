"""A node kinko does not trust, played by a local HTTP server that answers every request
with whatever the test chooses (bytes, pace, size): for the adapters' hostile-node tests
(NIS1's REST, Ethereum's JSON-RPC)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Body = Callable[[Any], None]  # writes the answer's body to the handler's wfile


def endless(head: bytes, sent: list[int]) -> Body:
    """An answer of ``head``, then 64 MiB of one string's padding (unless kinko hangs up
    first: each MiB written is counted in ``sent``), then the string's and object's end."""

    def write(out: Any) -> None:
        out.write(head + b'"padding": "')
        chunk = b"x" * 2**20
        for _ in range(64):
            out.write(chunk)
            sent.append(len(chunk))
        out.write(b'"}')

    return write


class Node:
    """A node answering every request with ``status`` and ``body`` (bytes, or a function
    that writes them at its own pace); ``asked`` counts the requests."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes | Body = b"{}"
        self.asked = 0
        # seconds between the bytes of a status line and headers that would take 400 such
        # pauses (each byte before a read times out); None: the head at once
        self.head_pace: float | None = None
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # no Content-Length needed: the body ends at close

            def _answer(self) -> None:
                node.asked += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                try:
                    if node.head_pace is not None:
                        for byte in (b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 400 + b"\r\n\r\n"):
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(node.head_pace)
                    else:
                        self.send_response(node.status)
                        self.send_header("Content-Type", "application/json")
                        self.end_headers()
                    if callable(node.body):
                        node.body(self.wfile)
                    else:
                        self.wfile.write(node.body)
                except OSError:
                    pass  # kinko hung up: what it should do with such an answer

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
