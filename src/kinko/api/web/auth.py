"""Sign-in (an API key exchanged for a session cookie) and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kinko.api.web.context import COOKIE, ZONE_COOKIE, Site, known_zone
from kinko.domain.messages import Message, msg
from kinko.errors import KinkoError, Unauthorized
from kinko.services.access import Forbidden
from kinko.services.throttle import Throttled

__all__ = ["router"]


def _refusal(exc: KinkoError) -> Message:
    """Why a sign-in was refused, in the operator's language (the audit log keeps the
    error's own English words)."""
    if isinstance(exc, Throttled):
        return msg("sign_in.throttled", seconds=exc.retry_after)
    if isinstance(exc, Forbidden):
        return msg("sign_in.other_site")
    if isinstance(exc, Unauthorized):
        return msg("sign_in.not_valid")
    return exc.said()


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no open redirect to another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, web: Site, next: str = "/") -> HTMLResponse:
    hours = int(web.sessions().ttl.total_seconds() // 3600)
    return web.render(request, "login.html.j2", None, next=_safe_next(next), hours=hours,
                      message="")


@router.post("/login")
def login(request: Request, web: Site, api_key: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/",
          zone: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Sign in: same origin only; wrong keys are throttled per client and per key and
    every refusal goes to the audit log (:meth:`Access.authenticate`)."""
    client = web.client(request)
    try:
        web.throttle.check(client)  # a locked client writes nothing more
        try:
            web.same_origin(request)
        except Forbidden as exc:  # another site posting a key (login CSRF)
            locked = web.throttle.fail(client)
            web.access().audit("anonymous", "sign_in.refused", "-",
                               {"client": client, "reason": exc.message,
                                "locked": locked})
            raise
        session, token = web.sessions().sign_in(api_key, client=client,
                                                throttle=web.throttle)
    except KinkoError as exc:
        hours = int(web.sessions().ttl.total_seconds() // 3600)
        status = 429 if isinstance(exc, Throttled) else 403 \
            if isinstance(exc, Forbidden) else 401
        page = web.render(request, "login.html.j2", None, status=status,
                          next=_safe_next(next), hours=hours, message=_refusal(exc))
        if isinstance(exc, Throttled):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = RedirectResponse(_safe_next(next), status_code=303)
    max_age = int((session.expires - web.clock.now()).total_seconds())
    response.set_cookie(COOKIE, token, max_age=max_age, httponly=True, samesite="strict",
                        secure=web.secure_cookies, path="/")
    if known_zone(zone) is not None:  # a name that is no zone is not kept for a year
        response.set_cookie(ZONE_COOKIE, zone, max_age=365 * 86400, samesite="strict",
                            secure=web.secure_cookies, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, web: Site) -> Response:
    form = dict(await request.form())
    web.form(request, form, "read")
    web.sessions().sign_out(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
