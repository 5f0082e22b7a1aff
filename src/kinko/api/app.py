"""The REST API under ``/v1`` (OpenAPI at ``/openapi.json``, its reference at ``/docs``).

The routes are module-level routers, one module per resource (:mod:`kinko.api.v1`): each
names what it depends on (the services, the caller's key and role, the audit), calls one
service and answers with a response model. This module wires them: the services on the app,
the error handlers, the body limits, the reference page. Every error is ``{"error": {"code",
"message", "message_id", "details"}}``: ``message`` in the language the request's
``Accept-Language`` prefers (Japanese or English; English by default, then the error's own
words), ``message_id`` the catalog id of what it says, the same in every language.
Anything the caller got wrong is a 4xx (400 bad input, 401 no or bad key, 403 wrong role,
404 unknown, 409 conflicting state or reused idempotency key, 422 refused by a rule: an
overdraft, an Idempotency-Key outside ``A-Z a-z 0-9 . _ : -``, a destination that is the
zero address or one of the exchange's own wallets, a request that names a tier), an
unreachable database or node is 503, and never a 500 for bad input. Every mutating call is
written to the hash-chained audit log with the key's name, in the same transaction as the
change itself; a refused approval is audited too.

A withdrawal's tier is the customer's, recorded in kinko (``PUT /v1/customers/{id}/tier``,
role admin); a request body that names a ``tier`` is refused (422), never obeyed or ignored.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from kinko.api.docs import document_errors, reference_page
from kinko.api.head import HeadAsGet
from kinko.api.limits import DEFAULT_MAX_BODY, BodyLimits, body_said, json_syntax
from kinko.api.problems import field_problem
from kinko.api.v1 import ROUTERS
from kinko.api.v1.deps import Api
from kinko.api.web import SecurityHeaders, SignInRequired, Web, for_api, mount
from kinko.domain.fsa import Submitter
from kinko.domain.messages import Message, msg
from kinko.errors import KinkoError, RangeNotSatisfiable
from kinko.i18n import Localizer, accepted_language
from kinko.ports import Clock, Store, SystemClock
from kinko.services.access import Access
from kinko.services.artifacts import Artifacts
from kinko.services.custody import Custody
from kinko.services.throttle import Throttle, Throttled
from kinko.services.withdrawals import Withdrawals

__all__ = ["create_app"]


class OneRequest:
    """Each HTTP request reads the caches' stamps once (``Store.one_request``), not once per
    cached table it reads (the API key, the breaker, the policy ...)."""

    def __init__(self, app: ASGIApp, *, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.store.one_request():
            await self.app(scope, receive, send)


def _status(exc: KinkoError) -> int:
    return exc.http_status  # declared on each error class (kinko.errors)


def _error(request: Request, status: int, code: str, english: str, says: Message,
           details: Any = None) -> JSONResponse:
    """kinko's error body: ``english`` (the error's own words) or, for a request that
    prefers another language, what ``says`` says in it."""
    lang = accepted_language(request.headers.get("accept-language"))
    message = english if lang == "en" else Localizer(lang).text(says)
    return JSONResponse(status_code=status, headers={
        "Content-Language": lang, "Vary": "Accept-Language"}, content={
        "error": {"code": code, "message": message, "message_id": says.id,
                  "details": details or {}}})


def _http_said(exc: StarletteHTTPException) -> Message:
    """What an HTTP error says: its status, and the reason the framework gave when it gave
    one (a form that could not be parsed, a Range it cannot serve), not only its status's
    name."""
    status = str(exc.status_code)
    detail = str(exc.detail)
    try:
        plain = detail == HTTPStatus(exc.status_code).phrase
    except ValueError:  # a status HTTP does not name
        plain = False
    if plain or not detail:
        return msg("error.http_status", status=status)
    shown = detail if len(detail) <= 200 else detail[:197] + "..."
    return msg("error.http_status_reason", status=status, reason=shown)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed(request: Request) -> str:
    """A 405's ``Allow``: each method some route takes at the request's path (asked of the
    routes themselves, included routers too), and HEAD wherever GET is (``HeadAsGet``)."""
    routes = request.app.router.routes
    taken = {m for m in _METHODS if any(
        route.matches({**request.scope, "method": m})[0] is Match.FULL for route in routes)}
    if "GET" in taken:
        taken.add("HEAD")
    return ", ".join(m for m in _METHODS if m in taken)


def create_app(custody_factory: Callable[[], Custody],
               access_factory: Callable[[], Access], *, dashboard: Path | None = None,
               clock: Clock | None = None, secure_cookies: bool = False,
               max_body: int = DEFAULT_MAX_BODY, watch_silence: int = 60,
               submitter: Submitter | None = None,
               stopped: Callable[[dict[str, int]], None] | None = None) -> FastAPI:
    """The app; the factories give the services (the CLI wires settings and stores).

    With ``dashboard`` (the folder where kinko writes traces and reports), the operators'
    dashboard is served at ``/`` too (:mod:`kinko.api.web`). Request bodies over
    ``max_body`` bytes, or nested too deep, are refused before anything parses them
    (:mod:`kinko.api.limits`). ``stopped`` is told, as the app stops, how far its requests'
    writes were grouped (``SqlStore.group_commit``), if any were."""
    # no Swagger UI or ReDoc: they load JavaScript from a CDN into this origin; /docs is
    # drawn on the server instead (kinko.api.docs)
    shared = Withdrawals(custody_factory())  # keeps parsed rules and the deny list warm

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        done = shared.store.group_commit()  # how far requests' writes were grouped
        if done["batches"] and stopped is not None:
            stopped(done)

    app = FastAPI(title="kinko", version="1", description=__doc__, docs_url=None,
                  redoc_url=None, lifespan=lifespan)
    wrong_keys = Throttle(clock or SystemClock())  # per client (API) and per key (sign-in)
    web = None
    if dashboard is not None:
        web = Web(custody_factory, access_factory, shared, clock or SystemClock(), dashboard,
                  secure_cookies=secure_cookies, wrong_keys=wrong_keys,
                  watch_silence=watch_silence, submitter=submitter or Submitter())
        Artifacts(shared.ledger.store, web.clock).fail_orphans()

    def for_pages(request: Request) -> bool:
        return web is not None and not for_api(request.url.path)

    def refusal(request: Request, exc: KinkoError) -> Response:
        if web is not None and for_pages(request):
            if isinstance(exc, SignInRequired):
                return web.to_sign_in(request)
            response: Response = web.error(request, _status(exc), body_said(exc.said()))
        else:
            response = _error(request, _status(exc), exc.code, exc.message,
                              body_said(exc.said()), exc.details)
        if isinstance(exc, Throttled):
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, RangeNotSatisfiable):  # the file's length (RFC 9110 §14.4)
            response.headers["Content-Range"] = f"bytes */{exc.size}"
        return response

    @app.exception_handler(KinkoError)
    async def kinko_error(request: Request, exc: KinkoError) -> Response:
        return refusal(request, exc)

    app.add_middleware(BodyLimits, refuse=refusal, max_bytes=max_body)
    app.add_middleware(OneRequest, store=shared.store)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        said = _http_said(exc)
        if web is not None and for_pages(request):
            page = web.error(request, exc.status_code, msg("error.page_not_found")
                             if exc.status_code == 404 else said)
            page.headers.update(exc.headers or {})
            if exc.status_code == 405:
                page.headers["Allow"] = _allowed(request)
            return page
        codes = {400: "bad_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed"}
        answer = _error(request, exc.status_code, codes.get(exc.status_code, "http_error"),
                        str(exc.detail), said)
        answer.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method the path takes, not only its first route's
            answer.headers["Allow"] = _allowed(request)
        return answer

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if errors and errors[0].get("type") == "json_invalid":  # not JSON: where it stops
            error = errors[0]
            return refusal(request, json_syntax(
                exc.body, int(error["loc"][-1]), str(error.get("ctx", {}).get("error", ""))))
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e["msg"]}
                    for e in errors]
        first = problems[0] if problems else {"where": "request", "problem": "invalid"}
        if web is not None and for_pages(request):
            return web.error(request, 400, msg("error.form_field",
                                               field=first["where"].removeprefix("body.")))
        said = field_problem(first["where"], errors[0] if errors else {})
        return _error(request, 400, "bad_input", f"{first['where']}: {first['problem']}",
                      said, {"problems": problems})

    app.state.api = Api(shared, custody_factory, access_factory, wrong_keys)
    for router in ROUTERS:
        app.include_router(router)

    generated = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generated())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        """The API's reference, from the OpenAPI spec; no script, under the CSP."""
        return reference_page(request, app.openapi())

    if web is not None:
        mount(app, web)
    app.add_middleware(SecurityHeaders)  # on every answer, refusals too
    app.add_middleware(HeadAsGet)  # outermost: HEAD is GET without its body
    return app
