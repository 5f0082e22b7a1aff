"""The operators' dashboard, served at ``/`` beside the REST API.

Server-rendered pages (Jinja2, autoescaped) over the same services as the API; a little
JavaScript shipped with kinko (``static/``, no CDN: operations networks are often isolated)
for the live overview, zoom and pan of trace graphs, and signing approvals in the browser.
Sign-in exchanges an API key for a session cookie (HttpOnly, SameSite=Strict, expiring);
every form carries the session's CSRF token; every page and form checks the role on the
server. Pages are in English and Japanese; times are shown in the operator's zone.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kinko.api.ranges import Static
from kinko.api.web.context import SignInRequired, Web

__all__ = ["CSP", "PAGES", "SecurityHeaders", "SignInRequired", "Web", "for_api", "mount"]

# one module per page group, each with a module-level ``router`` (an APIRouter whose pages
# name the dashboard as a dependency, ``web: Site``)
PAGES = ("auth", "overview", "incidents", "withdrawals", "reports", "policy", "trace")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def for_api(path: str) -> bool:
    """Whether ``path`` is the REST API's (``/v1``, any path under it, ``/openapi.json``):
    its errors are JSON, and it has none of the pages' headers; every other path is the
    dashboard's. The app and :class:`SecurityHeaders` both ask this: they asked apart, and
    ``/v1x`` was a page without the pages' headers (a signed-in operator's error page,
    its CSRF token too, could be framed and was not kept from caches)."""
    return path in ("/v1", "/openapi.json") or path.startswith("/v1/")


def mount(app: FastAPI, web: Web) -> None:
    """Add the dashboard's pages and its static files to ``app`` (whose answers all pass
    :class:`SecurityHeaders`, with the dashboard or without)."""
    app.mount("/static", Static(directory=Path(__file__).parent / "static"),
              name="static")
    app.state.web = web  # what kinko.api.web.context.site gives the pages
    for name in PAGES:
        app.include_router(importlib.import_module(f"kinko.api.web.{name}").router)


class SecurityHeaders:
    """The dashboard's security headers on every page (its CSP, no framing, no referrer to
    other sites, no caching but of static files) and ``nosniff`` on every answer, the API's
    too; a header a page set itself (a report's own CSP) is kept. A plain ASGI middleware:
    it adds the headers to the response's start as it passes, without the task and the
    streamed copy of the body a ``@app.middleware("http")`` costs each request. The app
    adds it whether it serves the dashboard or the API alone (``--no-dashboard``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = [] if for_api(path) else _PAGE_HEADERS if (
            path == "/static" or path.startswith("/static/")) else _PAGE_HEADERS_NO_STORE

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in (*extra, _NOSNIFF)
                            if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_PAGE_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
                 (b"referrer-policy", b"same-origin")]
_PAGE_HEADERS_NO_STORE = [*_PAGE_HEADERS, (b"cache-control", b"no-store")]
