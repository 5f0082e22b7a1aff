"""The REST API under ``/v1`` (OpenAPI at ``/openapi.json``, its reference at ``/docs``).

Routes are thin: authenticate the API key, check its role, parse, call one service, shape
the answer. Every error is ``{"error": {"code", "message", "details"}}``; anything the
caller got wrong is a 4xx (400 bad input, 401 no or bad key, 403 wrong role, 404 unknown,
409 conflicting state or reused idempotency key, 422 refused by a rule: an overdraft, an
Idempotency-Key outside ``A-Z a-z 0-9 . _ : -``, a destination that is the zero address or
one of the exchange's own wallets, a request that names a tier), an unreachable database or
node is 503, and never a 500 for bad input. Every mutating call is written to the
hash-chained audit log with the key's name, in the same transaction as the change itself;
a refused approval is audited too.

A withdrawal's tier is the customer's, recorded in kinko (``PUT /v1/customers/{id}/tier``,
role admin); a request body that names a ``tier`` is refused (422), never obeyed or ignored.
"""

# no `from __future__ import annotations` here: FastAPI reads the route annotations at
# definition time, and they refer to names local to create_app
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from kinko.api.docs import document_errors, reference_page
from kinko.api.limits import DEFAULT_MAX_BODY, BodyLimits
from kinko.api.web import SignInRequired, Web, mount
from kinko.domain.fsa import Submitter
from kinko.domain.ledger import normal_balance
from kinko.domain.messages import verbatim
from kinko.domain.money import format_units, parse_units
from kinko.domain.screening import RuleHit
from kinko.errors import (
    BadInput,
    KinkoError,
    NotFound,
    TierRefused,
)
from kinko.i18n import ENGLISH
from kinko.ports import Clock, Store, SystemClock
from kinko.services.access import Access, ApiKey, Forbidden, parse_anchor
from kinko.services.artifacts import Artifacts
from kinko.services.custody import Custody
from kinko.services.customers import customer_tier, set_tier
from kinko.services.throttle import Throttle, Throttled
from kinko.services.withdrawals import Withdrawals, WithdrawalView

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


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={
        "error": {"code": code, "message": message, "details": details or {}}})


class WithdrawalIn(BaseModel):
    customer: str = Field(min_length=1, max_length=128)
    asset: str = Field(min_length=1, max_length=16)
    amount: str = Field(min_length=1, max_length=64, description="Whole units, e.g. \"1.5\".")
    destination: str = Field(min_length=1, max_length=128)
    tier: SkipJsonSchema[Any] = Field(default=None, exclude=True)  # refused: see the route


class TierIn(BaseModel):
    tier: str = Field(min_length=1, max_length=32,
                      description="One of the tiers the active policy declares.")


class ApprovalIn(BaseModel):
    approver: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=256,
                           description="Ed25519 signature (hex) over the canonical proposal.")


class VetoIn(BaseModel):
    approver: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=256,
                           description="Ed25519 signature (hex) over the veto bytes of the "
                           "version (`kinko approvers sign-veto`).")
    reason: str = Field(default="", max_length=500)


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class TripIn(BaseModel):
    scope: str = Field(min_length=1, max_length=16, description="An asset, or * for all.")
    reason: str = Field(min_length=1, max_length=500)


def next_page(request: Request, response: Response, name: str, cursor: str) -> None:
    """Where the next page is: ``Link: <URL>; rel="next"`` (RFC 8288) and the cursor."""
    url = request.url.include_query_params(**{name: cursor})
    response.headers["Link"] = f'<{url}>; rel="next"'
    response.headers["X-Next-Cursor"] = cursor


def balance_cursor_of(account: str, asset: str) -> str:
    return base64.urlsafe_b64encode(f"{account}\n{asset}".encode()).decode().rstrip("=")


def balance_cursor(cursor: str) -> tuple[str, str]:
    """The (account, asset) a balances page ends at, from its opaque cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        account, asset = text.split("\n")
    except ValueError:  # bad base64, not UTF-8, not two lines
        raise BadInput(f"not a page cursor: {cursor[:40]!r}") from None
    return account, asset


def create_app(custody_factory: Callable[[], Custody],
               access_factory: Callable[[], Access], *, dashboard: Path | None = None,
               clock: Clock | None = None, secure_cookies: bool = False,
               max_body: int = DEFAULT_MAX_BODY, watch_silence: int = 60,
               submitter: Submitter | None = None) -> FastAPI:
    """The app; the factories give the services (the CLI wires settings and stores).

    With ``dashboard`` (the folder where kinko writes traces and reports), the operators'
    dashboard is served at ``/`` too (:mod:`kinko.api.web`). Request bodies over
    ``max_body`` bytes, or nested too deep, are refused before anything parses them
    (:mod:`kinko.api.limits`)."""
    # no Swagger UI or ReDoc: they load JavaScript from a CDN into this origin; /docs is
    # drawn on the server instead (kinko.api.docs)
    shared = Withdrawals(custody_factory())  # keeps parsed rules and the deny list warm

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        done = shared.store.group_commit()  # how far requests' writes were grouped
        if done["batches"]:
            print(f"kinko: group commit: {done['batches']} batches, {done['units']} units, "
                  f"largest {done['largest']}", flush=True)

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
        return web is not None and not request.url.path.startswith(("/v1/", "/openapi"))

    def refusal(request: Request, exc: KinkoError) -> Response:
        if web is not None and for_pages(request):
            if isinstance(exc, SignInRequired):
                return web.to_sign_in(request)
            response: Response = web.error(request, _status(exc), exc.message)
        else:
            response = _error(_status(exc), exc.code, exc.message, exc.details)
        if isinstance(exc, Throttled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(KinkoError)
    async def kinko_error(request: Request, exc: KinkoError) -> Response:
        return refusal(request, exc)

    app.add_middleware(BodyLimits, refuse=refusal, max_bytes=max_body)
    app.add_middleware(OneRequest, store=shared.store)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if web is not None and for_pages(request):
            return web.error(request, exc.status_code, str(exc.detail))
        codes = {400: "bad_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"),
                      str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e["msg"]}
                    for e in exc.errors()]
        first = problems[0] if problems else {"where": "request", "problem": "invalid"}
        if web is not None and for_pages(request):
            return web.error(request, 400, f"{first['where']}: {first['problem']}")
        return _error(400, "bad_input", f"{first['where']}: {first['problem']}",
                      {"problems": problems})

    def key(request: Request, authorization: Annotated[str | None, Header()] = None,
            x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
        """The caller's key; wrong keys are counted per client address, audited, and a
        client with too many is answered 429 for a while (:mod:`kinko.services.throttle`)."""
        token = x_api_key
        if authorization:
            scheme, _, value = authorization.partition(" ")
            token = value if scheme.lower() == "bearer" else authorization
        client = request.client.host if request.client is not None else None
        return access_factory().authenticate(token, client=client, throttle=wrong_keys)

    Key = Annotated[ApiKey, Depends(key)]

    def approving(who: ApiKey, approver: str, proposal_id: str) -> None:
        """An approval is given by the key's holder (an admin may relay one); a refused
        one is audited."""
        try:
            who.require("approve")
            if approver != who.name and who.role != "admin":
                raise Forbidden(f"key {who.name!r} cannot approve as {approver!r}")
        except Forbidden as exc:
            service().refused_approval(who.name, proposal_id, approver, exc)
            raise

    def service() -> Withdrawals:
        return shared

    def existing(w: Withdrawals, withdrawal_id: str) -> WithdrawalView:
        try:
            return w.get(withdrawal_id)
        except BadInput as exc:
            raise NotFound(exc.message) from None

    def hit(h: RuleHit) -> dict[str, Any]:
        """A rule hit: its words in English, and as catalog messages (id and parameters)
        for a client that shows them in another language."""
        data = h.to_data()
        return {"rule": data["rule"], "kind": data["kind"], "action": data["action"],
                "reason": ENGLISH.text(h.reason), "detail": ENGLISH.text(h.detail),
                "messages": {"reason": data["reason"], "detail": data["detail"]}}

    def shape(w: Withdrawals, v: WithdrawalView) -> dict[str, Any]:
        asset = w.ledger.assets[v.asset]
        proposal = None
        if v.quorum:  # reviewed: what approvers sign(ed)
            p = w.custody.proposal(f"withdrawal-{v.id}")
            if p is not None:
                proposal = {"id": p.proposal.id, "canonical": p.proposal.canonical(),
                            "approvers": [a.approver for a in p.approvals]}
        return {"id": v.id, "customer": v.customer, "asset": v.asset, "proposal": proposal,
                "amount": format_units(v.amount, asset), "destination": v.destination,
                "state": v.state, "tx_hash": v.tx_hash,
                "approvals": v.approvals, "quorum": v.quorum,
                "decision": {"outcome": v.decision.outcome,
                             "policy_version": v.decision.policy_version,
                             "hits": [hit(h) for h in v.decision.hits]}}

    @app.post("/v1/withdrawals", status_code=201, tags=["withdrawals"])
    def create_withdrawal(body: WithdrawalIn, who: Key,
                          idempotency_key: Annotated[str, Header(min_length=1)]
                          ) -> dict[str, Any]:
        """Screen and record a withdrawal; retrying with the same Idempotency-Key (1-100 of
        ``A-Z a-z 0-9 . _ : -``, starting with a letter or digit; it becomes the
        withdrawal's id) returns the first result. The customer's recorded tier applies: a
        body naming a ``tier`` is refused."""
        who.require("operate")
        if body.tier is not None:
            raise TierRefused("a withdrawal request cannot name a tier: the customer's tier "
                              "is recorded in kinko (PUT /v1/customers/{id}/tier) and applies "
                              "to every request", field="tier")
        w = service()
        units = parse_units(body.amount, w.ledger.assets[body.asset])
        with w.store.unit():  # the answer is read in the request's own transaction
            view = w.request(idempotency_key, body.customer, body.asset, units,
                             body.destination, requester=who.name, actor=who.name)
            return shape(w, view)

    @app.get("/v1/withdrawals", tags=["withdrawals"])
    def list_withdrawals(request: Request, response: Response, who: Key,
                         state: Annotated[str | None, Query(max_length=16)] = None,
                         customer: Annotated[str | None, Query(max_length=128)] = None,
                         asset: Annotated[str | None, Query(max_length=16)] = None,
                         before: Annotated[str | None, Query(max_length=300)] = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100,
                         ) -> list[dict[str, Any]]:
        """Withdrawals newest first, a page at a time: the next page is in the ``Link``
        header (``rel="next"``) and its cursor in ``X-Next-Cursor`` (pass it as ``before``)."""
        who.require("read")
        w = service()
        page = w.page(state=state, customer=customer, asset=asset, before=before, limit=limit)
        if page.older is not None:
            next_page(request, response, "before", page.older)
        return [shape(w, v) for v in page.rows]

    @app.get("/v1/withdrawals/{withdrawal_id}", tags=["withdrawals"])
    def get_withdrawal(withdrawal_id: str, who: Key) -> dict[str, Any]:
        who.require("read")
        w = service()
        return shape(w, existing(w, withdrawal_id))

    @app.post("/v1/withdrawals/{withdrawal_id}/approve", tags=["withdrawals"])
    def approve_withdrawal(withdrawal_id: str, body: ApprovalIn, who: Key) -> dict[str, Any]:
        """Record an approval. The approver named must be the key's holder."""
        approving(who, body.approver, f"withdrawal-{withdrawal_id}")
        w = service()
        view = w.approve(withdrawal_id, body.approver, body.signature, actor=who.name)
        return shape(w, view)

    @app.post("/v1/withdrawals/{withdrawal_id}/reject", tags=["withdrawals"])
    def reject_withdrawal(withdrawal_id: str, body: RejectIn, who: Key) -> dict[str, Any]:
        who.require("operate")
        w = service()
        existing(w, withdrawal_id)
        view = w.reject(withdrawal_id, who.name, body.reason, actor=who.name)
        return shape(w, view)

    @app.get("/v1/breaker", tags=["breaker"])
    def breaker(who: Key) -> dict[str, Any]:
        who.require("read")
        w = service()
        return {"tripped": sorted(w.breaker()),
                "log": [{**e, "at": e["at"].isoformat(), "reason": ENGLISH.text(e["reason"]),
                         "reason_message": e["reason"].to_data()} for e in w.breaker_log()]}

    @app.post("/v1/breaker/trip", tags=["breaker"])
    def trip(body: TripIn, who: Key) -> dict[str, Any]:
        who.require("operate")
        w = service()
        w.trip(body.scope, who.name, verbatim(body.reason), actor=who.name)
        return {"tripped": sorted(w.breaker())}

    @app.post("/v1/breaker/{scope}/reset", tags=["breaker"])
    def propose_reset(scope: str, who: Key) -> dict[str, Any]:
        """Propose a reset; a quorum approves it at /v1/proposals/{id}/approve."""
        who.require("operate")
        view = service().propose_reset(scope, who.name, actor=who.name)
        return {"proposal": view.proposal.id, "canonical": view.proposal.canonical(),
                "quorum": view.quorum}

    @app.post("/v1/proposals/{proposal_id}/approve", tags=["proposals"])
    def approve_proposal(proposal_id: str, body: ApprovalIn, who: Key) -> dict[str, Any]:
        """Approve any proposal (a withdrawal held for review, a breaker reset, a sweep,
        a refill, a policy, a refund override): routed by its kind before anything is
        recorded; at quorum a withdrawal is approved, a breaker reset. Every approval, and
        every refused one, is audited."""
        approving(who, body.approver, proposal_id)
        w = service()
        view = w.approve_proposal(proposal_id, body.approver, body.signature, actor=who.name)
        kind = view.proposal.kind
        return {"proposal": view.proposal.id, "kind": kind, "state": view.state,
                "approvers": [a.approver for a in view.approvals], "quorum": view.quorum,
                "reset": kind == "breaker" and view.state == "executed",
                "tripped": sorted(w.breaker())}

    @app.get("/v1/customers/{customer}/tier", tags=["customers"])
    def get_tier(customer: str, who: Key) -> dict[str, Any]:
        """The customer's tier (``standard`` when none is recorded) and who set it."""
        who.require("read")
        row = customer_tier(service().ledger, customer)
        at = row["set_at"]
        return {**row, "set_at": at.isoformat() if isinstance(at, datetime) else None}

    @app.put("/v1/customers/{customer}/tier", tags=["customers"])
    def put_tier(customer: str, body: TierIn, who: Key) -> dict[str, Any]:
        """Record the customer's tier, one of the active policy's (role admin; audited)."""
        who.require("admin")
        row = set_tier(service().ledger, customer, body.tier, who.name, actor=who.name)
        at = row["set_at"]
        return {**row, "set_at": at.isoformat() if isinstance(at, datetime) else None}

    @app.get("/v1/balances", tags=["ledger"])
    def balances(request: Request, response: Response, who: Key,
                 customer: Annotated[str | None, Query(max_length=128)] = None,
                 asset: Annotated[str | None, Query(max_length=16)] = None,
                 after: Annotated[str | None, Query(max_length=400)] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 ) -> list[dict[str, Any]]:
        """Customers' balances by account and asset, a page at a time (only that page is
        read): the next page is in the ``Link`` header (``rel="next"``) and its cursor in
        ``X-Next-Cursor`` (pass it as ``after``)."""
        who.require("read")
        ledger = custody_factory().ledger
        rows = ledger.balances(account=f"customer:{customer}" if customer else None,
                               kind=None if customer else "customer", asset=asset,
                               after=balance_cursor(after) if after else None,
                               limit=limit + 1)
        if len(rows) > limit:
            rows = rows[:limit]
            next_page(request, response, "after", balance_cursor_of(rows[-1].account,
                                                                    rows[-1].asset))
        return [{"account": r.account, "asset": r.asset,
                 "balance": format_units(normal_balance(r.account, r.state),
                                         ledger.assets[r.asset]),
                 "held": format_units(r.state.pending_debit, ledger.assets[r.asset])}
                for r in rows]

    @app.get("/v1/audit", tags=["audit"])
    def audit_log(request: Request, response: Response, who: Key,
                  after: Annotated[int, Query(ge=0, le=2**62)] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """The audit log in order, from the record after ``after``: who did what, on what,
        with what outcome, and every refusal that matters (wrong keys, refused approvals);
        the next page is in the ``Link`` header."""
        who.require("read")
        rows = access_factory().audit_log(after, limit + 1)
        if len(rows) > limit:
            rows = rows[:limit]
            next_page(request, response, "after", str(rows[-1]["seq"]))
        return [{"seq": r["seq"], "at": r["at"].isoformat(), "actor": r["actor"],
                 "action": r["action"], "target": r["target"],
                 "detail": json.loads(r["detail"]), "prev_hash": r["prev_hash"],
                 "hash": r["hash"]} for r in rows]

    @app.get("/v1/audit/verify", tags=["audit"])
    def audit_verify(who: Key, head: Annotated[str | None, Query(max_length=100)] = None
                     ) -> dict[str, Any]:
        """Recompute the audit log's hash chain; with ``head=SEQ:HASH`` (the head kept
        elsewhere), also detect records deleted from its end. Findings are data: 200."""
        who.require("read")
        check = access_factory().check_audit(parse_anchor(head, "head") if head else None)
        return {"ok": check.ok, "records": check.records, "head_seq": check.head[0],
                "head_hash": check.head[1],
                "problems": [{"seq": p.seq, "message": p.message} for p in check.problems]}

    @app.get("/v1/policy", tags=["policy"])
    def policy(who: Key) -> dict[str, Any]:
        who.require("read")
        active = custody_factory().policy()
        if active is None:
            raise NotFound("no custody policy is loaded")
        return active.canonical()

    @app.get("/v1/policy/versions", tags=["policy"])
    def policy_versions(who: Key) -> dict[str, Any]:
        """Every policy version, newest first: ``effective`` (in force), ``pending`` (a
        loosening waiting for its time lock, with when it takes effect and what it
        loosens), ``vetoed``, ``superseded``, ``unverifiable`` or ``unreadable``."""
        who.require("read")
        return {"versions": [s.as_dict() for s in custody_factory().policy_standings()]}

    @app.post("/v1/policy/versions/{version}/veto", tags=["policy"])
    def veto_policy(version: int, body: VetoIn, who: Key) -> dict[str, Any]:
        """One approver's veto of a pending loosening: it never takes effect. Signed by
        an approver of the version it was proposed under; audited."""
        try:
            who.require("approve")
            if body.approver != who.name and who.role != "admin":
                raise Forbidden(f"key {who.name!r} cannot veto as {body.approver!r}")
            found = custody_factory().veto(version, body.approver, body.signature,
                                           body.reason, actor=who.name)
        except KinkoError as exc:
            access_factory().audit(who.name, "policy.veto.refused", f"policy-v{version}",
                                   {"approver": body.approver, "why": exc.message})
            raise
        return found.as_dict()

    @app.get("/v1/custody", tags=["custody"])
    def custody(who: Key) -> dict[str, Any]:
        """Per asset: owed to customers, hot/warm/cold holdings, online share and limit, the
        performance guarantee, and the findings (the chain is not read: see `kinko check`)."""
        who.require("read")
        from kinko.services.custody import custody_report

        active = custody_factory()
        report = custody_report(active, reconcile=False)
        assets = active.ledger.assets

        def show(units: int, symbol: str) -> str:
            return format_units(units, assets[symbol])

        return {"generated_at": report.generated_at.isoformat(),
                "policy_version": report.policy_version,
                "assets": [{"asset": r.asset, "customers": r.customers,
                            "liabilities": show(r.liabilities, r.asset),
                            "hot": show(r.hot, r.asset), "warm": show(r.warm, r.asset),
                            "cold": show(r.cold, r.asset),
                            "online_share": None if r.online_share is None
                            else str(r.online_share),
                            "max_hot_ratio": None if r.max_hot_ratio is None
                            else str(r.max_hot_ratio),
                            "guarantee_required": show(r.guarantee_required, r.asset),
                            "guarantee_held": show(r.guarantee_held, r.asset)}
                           for r in report.rows],
                "findings": [{"code": f.code, "severity": f.severity, "asset": f.asset,
                              "law": f.law, "message": ENGLISH.text(f.message),
                              "message_id": f.message.to_data()} for f in report.findings]}

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
    return app
