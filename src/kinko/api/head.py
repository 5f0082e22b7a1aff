"""``HEAD`` answered wherever ``GET`` is: the same status and headers, no body.

HTTP asks every server to answer ``HEAD`` for what it serves with ``GET`` (RFC 9110
§9.3.2); monitors and load balancers check a server that way. FastAPI's routes take only
the methods they declare, so ``HEAD /openapi.json`` or ``HEAD /v1/breaker`` was a 405.
This middleware, outermost, serves a ``HEAD`` request as the ``GET`` it stands for (the
key checked, the headers and ``Content-Length`` as ``GET`` gives them) and sends no body.
The answer ends with the first part of the body, not the last: a ``GET`` whose body never
ends (the dashboard's event streams) would otherwise hold a ``HEAD`` open for as long as
the client stays, its next request on the connection unanswered; the app is then told the
client has gone, and stops.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HeadAsGet"]


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.body":
                if ended:
                    return  # the rest of the body, after the answer ended
                ended = True  # at the body's first part: its end is sent, empty
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        async def gone_once_answered() -> Message:
            if ended:
                return {"type": "http.disconnect"}
            return await receive()

        await self.app({**scope, "method": "GET"}, gone_once_answered, headers_only)
