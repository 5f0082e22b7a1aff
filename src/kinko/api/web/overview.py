"""The overview page and its live feed (server-sent events).

The feed polls the database's change stamp twice a second and, when it moved, sends the
overview's live part rendered on the server; the page swaps it in. The browser reconnects
by itself (EventSource) after a lost connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from kinko.api.web.context import Site, Viewer, Web
from kinko.errors import KinkoError
from kinko.services.overview import overview, stamp_text

__all__ = ["router"]

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


def _data(web: Web) -> dict[str, Any]:
    return {"ov": overview(web.withdrawals, silence=web.watch_silence),
            "assets": web.withdrawals.ledger.assets}


def _live(web: Web, request: Request, viewer: Viewer) -> str:
    return web.text(request, "overview_live.html.j2", viewer, **_data(web))


async def _feed(web: Web, request: Request, since: str,
                on_change: Callable[[], Awaitable[str]]) -> AsyncIterator[str]:
    """Poll the change stamp; after each change (from ``since``, the stamp the page was
    drawn at), check the session again and send what ``on_change`` makes."""
    last: str | None = since or None
    quiet = 0.0
    yield "retry: 1000\n\n"
    while not await request.is_disconnected():
        now = stamp_text(await run_in_threadpool(web.stamp))
        if now != last:
            if last is not None:
                try:  # the session may have ended or its key been revoked
                    await run_in_threadpool(web.signed_in, request)
                except KinkoError:
                    yield "event: signed-out\ndata: /login\n\n"
                    return
                yield await on_change()
            last, quiet = now, 0.0
        elif quiet >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS


def _stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store",
                                      "X-Accel-Buffering": "no"})


router = APIRouter(include_in_schema=False)


@router.get("/")
def page(request: Request, web: Site) -> HTMLResponse:
    viewer = web.page(request)
    return web.render(request, "overview.html.j2", viewer, **_data(web))


@router.get("/events/overview")
async def events(request: Request, web: Site, since: str = "") -> StreamingResponse:
    """The overview's live part, rendered again whenever something changed."""
    viewer = await run_in_threadpool(web.page, request)

    async def part() -> str:
        html = await run_in_threadpool(_live, web, request, viewer)
        return "event: overview\n" + "".join(
            f"data: {line}\n" for line in html.splitlines()) + "\n"

    return _stream(_feed(web, request, since[:200], part))


@router.get("/events/changes")
async def changes(request: Request, web: Site, since: str = "") -> StreamingResponse:
    """For every other page: one event whenever something changed."""
    await run_in_threadpool(web.page, request)

    async def changed() -> str:
        return "event: changed\ndata: \n\n"

    return _stream(_feed(web, request, since[:200], changed))
