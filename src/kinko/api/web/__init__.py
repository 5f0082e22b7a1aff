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
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from kinko.api.web.context import SignInRequired, Web

__all__ = ["CSP", "PAGES", "SignInRequired", "Web", "mount"]

# one module per page group, each with a module-level ``router`` (an APIRouter whose pages
# name the dashboard as a dependency, ``web: Site``)
PAGES = ("auth", "overview", "incidents", "withdrawals", "reports", "policy", "trace")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def mount(app: FastAPI, web: Web) -> None:
    """Add the dashboard's pages, its static files and its security headers to ``app``."""
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"),
              name="static")
    app.state.web = web  # what kinko.api.web.context.site gives the pages
    for name in PAGES:
        app.include_router(importlib.import_module(f"kinko.api.web.{name}").router)

    @app.middleware("http")
    async def headers(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(("/v1", "/openapi.json")):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            if request.url.path != "/static" and not request.url.path.startswith("/static/"):
                response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
