"""The HTTP protocol kinko's servers speak: uvicorn's h11, with a deadline for each request.

uvicorn closes a kept-alive connection that idles after an answer, but gives a request no
time to arrive: a connection that sends nothing, or sends a request's head or body a byte
at a time, is kept as long as its client likes. A few thousand such connections hold a
server's file descriptors (the next database connection or file it opens then fails),
and 64 of them hold every place ``kinko cosign serve`` has. Here each request must arrive
whole, head and body, within ``read_seconds`` of the connection's opening or of the last
answer on it; a client that is late is disconnected (it is given no answer: it has not
asked anything yet). The deadline stops once the request has arrived: the time the app
takes to answer is not counted.

A request h11 cannot parse is answered 400, as uvicorn answers it, with the headers every
other answer of kinko's servers has.

The servers pass :class:`ServerConfig` (uvicorn's configuration with ``read_seconds``) and
``http=TimelyH11``; both are importable, so a server's worker processes get them too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

__all__ = ["READ_SECONDS", "ServerConfig", "TimelyH11"]

READ_SECONDS = 30


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, with the seconds a request has to arrive whole."""

    def __init__(self, app: Any, *, read_seconds: float = READ_SECONDS, **kwargs: Any
                 ) -> None:
        super().__init__(app, http=TimelyH11, **kwargs)
        self.read_seconds = read_seconds


class TimelyH11(H11Protocol):
    """h11, and each request read whole within the configuration's ``read_seconds``."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.read_seconds = float(getattr(config, "read_seconds", READ_SECONDS))
        self.deadline: asyncio.TimerHandle | None = None
        self.waiting_after: Any = None  # the request the next one comes after (None: none)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start()

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if self.deadline is not None and cycle is not None and \
                cycle is not self.waiting_after and not cycle.more_body:
            self._stop()  # the request arrived whole: the app's time is not counted

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start()  # the next request's time begins

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _start(self) -> None:
        self._stop()
        self.waiting_after = self.cycle
        self.deadline = self.loop.call_later(self.read_seconds, self._late)

    def _stop(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _late(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """h11's answer to a request it cannot parse, as uvicorn sends it, with the
        headers every other answer of kinko's servers has: not to be sniffed as another
        type of content, nor kept by a cache."""
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
                   (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]
        for event in (h11.Response(status_code=400, headers=headers,
                                   reason=STATUS_PHRASES[400]),
                      h11.Data(data=msg.encode("ascii", "replace")), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
