"""A node's HTTP answer read within bounds, for the adapters that ask nodes over HTTP
(NIS1's REST in :mod:`kinko.chains.nis1`, Ethereum's JSON-RPC in :mod:`kinko.chains.evm`).

A node kinko does not trust (broken, hostile, or something impersonating it) could answer
without end, or a byte just before each read times out (so ``requests``' time-out, which is
for each read, never fires), or with JSON nested deep enough to overflow the C stack once
py-evm or py_ecc has raised Python's recursion limit (a segmentation fault: the process
dies), or with an object naming a key twice. So an answer is read a chunk at a time, at
most :data:`MAX_ANSWER_BYTES` and until a deadline for the whole answer, then parsed by
:func:`~kinko.safeload.loads_json` (bounded depth, no key twice, fractions as Decimal,
never float). What is not read is an :class:`UnreadAnswer`, which each adapter words as
its own retried failure, naming the node and what it asked.

The answer's head (status line and headers) has a deadline of its own: a node sending it a
byte before each read times out would otherwise be waited for without end before the body
is ever read. :func:`timely_session` is a ``requests`` session whose connections are cut
off (:mod:`kinko.deadline`) when a head has not come within the deadline, which is then a
``urllib3`` ``ProtocolError`` (a connection through a proxy is not cut).
"""

from __future__ import annotations

import time
from typing import Any

import requests
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from kinko.deadline import cut_at
from kinko.errors import BadInput
from kinko.safeload import MAX_DOCUMENT_BYTES, loads_json

__all__ = ["MAX_ANSWER_BYTES", "UnreadAnswer", "parse_answer", "read_answer", "timely_session"]

MAX_ANSWER_BYTES = MAX_DOCUMENT_BYTES
"""The most of one answer kinko reads (16 MiB: ten full NIS1 blocks are a few, a full
Ethereum block with its transactions and logs a few)."""
_CHUNK = 2**16


class UnreadAnswer(Exception):
    """An answer kinko does not read: too large, too slow or not JSON it reads."""

    def __init__(self, detail: str, *, late: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.late = late

    def says(self, node: str, what: str) -> str:
        """The failure as a sentence naming ``node`` and ``what`` it was asked."""
        if self.late:
            return f"{node} did not answer {what} within {self.detail}"
        return f"{node} answered {what} with {self.detail}"


def read_answer(answer: requests.Response, until: float, deadline: float,
                max_bytes: int = MAX_ANSWER_BYTES) -> bytes:
    """The body of ``answer`` (asked with ``stream=True``), a read at a time (each within
    the request's time-out): :class:`UnreadAnswer` when it is larger than ``max_bytes`` or
    still coming at ``until`` (:func:`time.monotonic`; ``deadline`` seconds after it was
    asked). A failed read raises as ``urllib3`` raises it."""
    chunks: list[bytes] = []
    size = 0
    while chunk := answer.raw.read1(_CHUNK, decode_content=True):
        size += len(chunk)
        if size > max_bytes:
            raise UnreadAnswer(f"more than {max_bytes // 2**20} MiB, the most kinko reads")
        if time.monotonic() > until:
            raise UnreadAnswer(f"{deadline:g} s", late=True)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_answer(raw: bytes, status: int | None = None) -> Any:
    """The JSON of an answer (read by :func:`read_answer`; with HTTP ``status``, named
    when given), by :func:`~kinko.safeload.loads_json`; :class:`UnreadAnswer` saying why
    not."""
    try:
        return loads_json(raw, "answer", max_bytes=MAX_ANSWER_BYTES)
    except BadInput as exc:
        http = "" if status is None else f" (HTTP {status})"
        raise UnreadAnswer(f"something that is not JSON kinko reads{http}: "
                           f"{exc.message}") from None


class _HeadInTime:
    """A ``urllib3`` connection whose answers' heads come within ``head_seconds`` (the
    session's; set by :func:`timely_session`) of the request, or it is cut off."""

    head_seconds = 30.0
    sock: Any

    def getresponse(self) -> Any:
        deadline = cut_at(self.sock, self.head_seconds) if self.sock is not None else None
        try:
            answer = super().getresponse()  # type: ignore[misc]
        finally:
            if deadline is not None:
                deadline.cancel()
        if deadline is not None and deadline.passed:  # a head cut off may look whole
            answer.close()
            raise urllib3.exceptions.ProtocolError(
                f"no answer within {self.head_seconds:g} s")
        return answer


def timely_session(head_seconds: float) -> requests.Session:
    """A ``requests`` session whose answers' heads (status and headers) must come within
    ``head_seconds`` of each request (see the module docstring)."""

    class Http(_HeadInTime, HTTPConnection):
        pass

    class Https(_HeadInTime, HTTPSConnection):
        pass

    Http.head_seconds = Https.head_seconds = head_seconds

    class HttpPool(HTTPConnectionPool):
        ConnectionCls = Http

    class HttpsPool(HTTPSConnectionPool):
        ConnectionCls = Https

    class Adapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}

    session = requests.Session()
    adapter = Adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
