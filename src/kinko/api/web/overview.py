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

from kinko.api.web import i18n
from kinko.api.web.context import Viewer, Web
from kinko.errors import KinkoError
from kinko.render.custody import finding_text
from kinko.services.overview import overview, stamp, stamp_text

__all__ = ["router"]

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0

i18n.add({
    "ov.as_of": ("As of {when}", "{when} 時点"),
    "ov.policy": ("policy version {version}", "管理方針 第{version}版"),
    "ov.breaker": ("Circuit breaker", "サーキットブレーカー"),
    "ov.tripped_for": ("TRIPPED: {scopes}", "作動中：{scopes}"),
    "ov.breaker_ok": ("not tripped", "通常"),
    "ov.active": ("active", "件対応中"),
    "ov.unacked": ("not acknowledged", "件未確認"),
    "ov.review": ("Review queue", "審査待ち出金"),
    "ov.held": ("held for approval", "件承認待ち"),
    "ov.proposals": ("Proposals", "承認待ちの移動"),
    "ov.awaiting": ("awaiting approvals", "件"),
    "ov.custody": ("Custody by asset", "暗号資産ごとの管理状況"),
    "ov.asset": ("Asset", "暗号資産"),
    "ov.liabilities": ("Owed to customers", "利用者からの預かり"),
    "ov.hot": ("Hot", "ホットウォレット"),
    "ov.warm": ("Warm", "ウォームウォレット"),
    "ov.cold": ("Cold", "コールドウォレット"),
    "ov.online_share": ("Online share", "オンライン管理比率"),
    "ov.limit": ("Limit", "上限"),
    "ov.guarantee_required": ("Guarantee required", "履行保証暗号資産（必要額）"),
    "ov.guarantee_held": ("Guarantee held", "履行保証暗号資産（保有額）"),
    "ov.findings": ("Findings", "指摘事項"),
    "ov.ok": ("within policy", "基準内"),
    "ov.not_assessed": ("not assessed: no policy", "未評価（管理方針なし）"),
    "ov.incidents": ("Active incidents", "対応中のインシデント"),
    "ov.alerts": ("Latest alerts", "最新のアラート"),
    "ov.id": ("ID", "ID"), "ov.state": ("State", "状態"), "ov.title": ("Title", "件名"),
    "ov.opened": ("Opened", "発生"), "ov.raised": ("Raised", "検知"),
    "ov.kind": ("Kind", "種類"), "ov.message": ("What", "内容"),
})


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def data(viewer: Viewer) -> dict[str, Any]:
        assets = web.withdrawals.ledger.assets
        decimals = {a.symbol: a.decimals for a in assets.values()}
        return {"ov": overview(web.withdrawals), "assets": assets,
                "finding": lambda f: finding_text(f, viewer.lang, decimals)}

    def live(request: Request, viewer: Viewer) -> str:
        return web.text(request, "overview_live.html.j2", viewer, **data(viewer))

    @r.get("/")
    def page(request: Request) -> HTMLResponse:
        viewer = web.page(request)
        return web.render(request, "overview.html.j2", viewer, **data(viewer))

    async def feed(request: Request, since: str,
                   on_change: Callable[[], Awaitable[str]]) -> AsyncIterator[str]:
        """Poll the change stamp; after each change (from ``since``, the stamp the page was
        drawn at), check the session again and send what ``on_change`` makes."""
        store = web.withdrawals.ledger.store
        last: str | None = since or None
        quiet = 0.0
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            now = stamp_text(await run_in_threadpool(stamp, store))
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

    def stream(events: AsyncIterator[str]) -> StreamingResponse:
        return StreamingResponse(events, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @r.get("/events/overview")
    async def events(request: Request, since: str = "") -> StreamingResponse:
        """The overview's live part, rendered again whenever something changed."""
        viewer = await run_in_threadpool(web.page, request)

        async def part() -> str:
            html = await run_in_threadpool(live, request, viewer)
            return "event: overview\n" + "".join(
                f"data: {line}\n" for line in html.splitlines()) + "\n"

        return stream(feed(request, since[:200], part))

    @r.get("/events/changes")
    async def changes(request: Request, since: str = "") -> StreamingResponse:
        """For every other page: one event whenever something changed."""
        await run_in_threadpool(web.page, request)

        async def changed() -> str:
            return "event: changed\ndata: \n\n"

        return stream(feed(request, since[:200], changed))

    return r
