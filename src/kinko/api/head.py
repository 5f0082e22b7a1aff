"""``HEAD`` answered wherever ``GET`` is: the same status and headers, no body.

HTTP asks every server to answer ``HEAD`` for what it serves with ``GET`` (RFC 9110
§9.3.2); monitors and load balancers check a server that way. FastAPI's routes take only
the methods they declare, so ``HEAD /openapi.json`` or ``HEAD /v1/breaker`` was a 405.
This middleware, outermost, serves a ``HEAD`` request as the ``GET`` it stands for (the
key checked, the headers and ``Content-Length`` as ``GET`` gives them) and sends no body.
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

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the body's parts are dropped; its end is sent, empty
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
