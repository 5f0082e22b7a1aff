"""Alerts, incidents and the circuit breaker: what the people on duty look at when the alarm
goes, and the forms they act with.

Pages (all need a session; forms need the ``operate`` role and the session's CSRF token):

- ``/alerts`` newest first, filtered by state and kind, 50 to a page (``?page=2``);
  ``/alerts/{id}`` every field and the acknowledge form (``POST /alerts/{id}/ack``).
- ``/incidents`` (``?state=``) and ``/incidents/{id}``: facts, alerts, the timeline the watch
  and the operators wrote, losses booked; forms for a note (``POST …/note``) and a state move
  (``POST …/move``); the incident report at ``/incidents/{id}/report.html``; a link to start a
  trace from the incident (``/trace/new?incident={id}``).
- ``/breaker``: tripped scopes, the log, the trip form (``POST /breaker/trip``), the reset
  proposal form (``POST /breaker/reset`` → ``/proposals/{id}``, where the quorum signs) and
  the reset proposals still open.

Every action is the service's (:mod:`kinko.services.incidents`,
:mod:`kinko.services.withdrawals`) and is written to the audit log as the REST API does.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from kinko.api.web.context import Site, Web, amount, form_text
from kinko.domain.messages import N_, id_shown, msg, verbatim
from kinko.domain.states import ALERT_STATES, INCIDENT_MOVES, INCIDENT_STATES
from kinko.domain.watch import ALERT_KINDS
from kinko.errors import BadInput, NotFound, UnknownAsset
from kinko.ports import AlertRow
from kinko.render.incident import incident_html
from kinko.services.incidents import IncidentView

__all__ = ["MAX_PAGE", "PAGE_SIZE", "router"]

PAGE_SIZE = 50
MAX_PAGE = (2**63 - 1) // PAGE_SIZE + 1  # the last page whose offset a database integer holds
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def _shown(web: Web, row: AlertRow) -> dict[str, Any]:
    """An alert with its amount in whole units of its asset."""
    text = "—"
    if row["amount"] is not None:
        try:
            text = amount(int(row["amount"]),
                          web.withdrawals.ledger.assets[row["asset"] or ""])
        except (UnknownAsset, KeyError, TypeError):
            text = str(row["amount"])
    return {**row, "shown": text}


def _alert(web: Web, alert_id: str) -> AlertRow:
    try:
        return web.incidents().alert(alert_id)
    except BadInput as exc:
        raise NotFound(exc.message, says=msg("error.unknown_alert", id=id_shown(alert_id))
                       ) from None


def _incident(web: Web, incident_id: str) -> IncidentView:
    try:
        return web.incidents().incident(incident_id)
    except BadInput as exc:
        raise NotFound(exc.message, says=msg("error.unknown_incident",
                                             id=id_shown(incident_id))) from None


router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------ alerts

@router.get("/alerts")
def alerts(request: Request, web: Site, state: str = "", kind: str = "",
           page: Annotated[int, Query(le=MAX_PAGE)] = 1) -> HTMLResponse:
    viewer = web.page(request)
    if state and state not in ALERT_STATES:
        raise BadInput(f"alert state must be open or acked, not {state!r}",
                       says=msg("error.unknown_filter", field=msg("error.field.state"),
                                value=state))
    if len(kind) > 32:
        raise BadInput("an alert kind is at most 32 characters",
                       says=msg("error.field_too_long", field=msg("error.field.kind"), limit=32))
    page = max(page, 1)
    rows = web.incidents().alerts(state or None, PAGE_SIZE + 1, kind=kind or None,
                                  offset=(page - 1) * PAGE_SIZE, newest_first=True)

    def link(to: int) -> str:
        return "/alerts?" + urlencode({k: v for k, v in (
            ("state", state), ("kind", kind), ("page", str(to))) if v})

    return web.render(request, "alerts.html.j2", viewer,
                      alerts=[_shown(web, a) for a in rows[:PAGE_SIZE]], state=state,
                      kind=kind, kinds=ALERT_KINDS, states=ALERT_STATES, page=page,
                      newer=link(page - 1) if page > 1 else None,
                      older=link(page + 1) if len(rows) > PAGE_SIZE else None)


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, web: Site, alert_id: str) -> HTMLResponse:
    viewer = web.page(request)
    return web.render(request, "alert.html.j2", viewer,
                      a=_shown(web, _alert(web, alert_id)))


@router.post("/alerts/{alert_id}/ack")
async def ack(request: Request, web: Site, alert_id: str) -> RedirectResponse:
    form = dict(await request.form())

    def act() -> None:
        viewer = web.form(request, form, "operate")
        _alert(web, alert_id)
        note = form_text(form, "note", 500, N_("al.note"))
        web.incidents().ack(alert_id, viewer.name, note)  # audited with the change

    await run_in_threadpool(act)
    return web.done(f"/alerts/{alert_id}")


# ------------------------------------------------------------------ incidents

@router.get("/incidents")
def incidents(request: Request, web: Site, state: str = "") -> HTMLResponse:
    viewer = web.page(request)
    if state and state not in INCIDENT_STATES:
        raise BadInput(f"incident state must be one of {', '.join(INCIDENT_STATES)}, "
                       f"not {state!r}",
                       says=msg("error.unknown_filter", field=msg("error.field.state"),
                                value=state))
    rows = sorted(web.incidents().incidents(state or None), key=lambda i: i["opened"],
                  reverse=True)
    return web.render(request, "incidents.html.j2", viewer,
                      incidents=rows, state=state, states=INCIDENT_STATES)


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, web: Site, incident_id: str) -> HTMLResponse:
    viewer = web.page(request)
    view = _incident(web, incident_id)
    assets = web.withdrawals.ledger.assets
    losses = [(symbol, f"loss:{incident_id}",
               amount(units, assets[symbol]) if symbol in assets else str(units))
              for symbol, units in sorted(web.incidents().losses(incident_id).items())]
    return web.render(request, "incident.html.j2", viewer,
                      i=view.incident, alerts=[_shown(web, a) for a in view.alerts],
                      timeline=view.timeline, losses=losses,
                      moves=INCIDENT_MOVES.get(view.incident["state"], ()))


@router.get("/incidents/{incident_id}/report.html")
def report(request: Request, web: Site, incident_id: str) -> HTMLResponse:
    viewer = web.page(request)
    view = _incident(web, incident_id)
    assets = web.withdrawals.ledger.assets

    def show(symbol: str, units: Any) -> str:
        return amount(int(units), assets[symbol]) if symbol in assets else str(units)

    return HTMLResponse(incident_html(view, viewer.lang, show), headers={
        "Content-Security-Policy": REPORT_CSP,
        "Content-Disposition": f'attachment; filename="{incident_id}.html"'})


@router.post("/incidents/{incident_id}/note")
async def note(request: Request, web: Site, incident_id: str) -> RedirectResponse:
    form = dict(await request.form())

    def act() -> None:
        viewer = web.form(request, form, "operate")
        _incident(web, incident_id)
        text = form_text(form, "text", 2000, N_("inc.note_text"))
        web.incidents().note(incident_id, viewer.name, text)  # audited with the change

    await run_in_threadpool(act)
    return web.done(f"/incidents/{incident_id}")


@router.post("/incidents/{incident_id}/move")
async def move(request: Request, web: Site, incident_id: str) -> RedirectResponse:
    form = dict(await request.form())

    def act() -> None:
        viewer = web.form(request, form, "operate")
        _incident(web, incident_id)
        state, reason = form_text(form, "state", 16, N_("error.field.state")), \
            form_text(form, "reason", 500, N_("inc.reason"))
        web.incidents().move(incident_id, state, viewer.name, reason)  # audited with it

    await run_in_threadpool(act)
    return web.done(f"/incidents/{incident_id}")


# ------------------------------------------------------------------ breaker

@router.get("/breaker")
def breaker(request: Request, web: Site) -> HTMLResponse:
    viewer = web.page(request)
    w = web.withdrawals
    tripped = w.breaker()
    resets = [p for p in w.custody.proposals("pending") if p.proposal.kind == "breaker"]
    # every asset the exchange holds has a row, and so has anything tripped
    held = {wallet.asset for wallet in w.ledger.wallets()} | set(tripped)
    rows = [(scope, tripped.get(scope),
             [p for p in resets if p.proposal.payload.get("scope") == scope])
            for scope in ["*", *sorted(held - {"*"})]]
    return web.render(request, "breaker.html.j2", viewer,
                      rows=rows, tripped=sorted(tripped), resets=resets,
                      log=list(reversed(w.breaker_log()))[:100],
                      scopes=[s for s in ["*", *w.ledger.assets] if s not in tripped])


@router.post("/breaker/trip")
async def trip(request: Request, web: Site) -> RedirectResponse:
    form = dict(await request.form())

    def act() -> None:
        viewer = web.form(request, form, "operate")
        scope, reason = form_text(form, "scope", 16, N_("brk.scope")), \
            form_text(form, "reason", 500, N_("brk.reason"))
        if not scope or not reason:
            raise BadInput("say which scope (an asset or *) to trip and why",
                           says=msg("error.trip_needs_scope_and_reason"))
        web.withdrawals.trip(scope, viewer.name, verbatim(reason), actor=viewer.name)

    await run_in_threadpool(act)
    return web.done("/breaker")


@router.post("/breaker/reset")
async def propose_reset(request: Request, web: Site) -> RedirectResponse:
    form = dict(await request.form())

    def act() -> str:
        viewer = web.form(request, form, "operate")
        scope = form_text(form, "scope", 16, N_("brk.scope"))
        view = web.withdrawals.propose_reset(scope, viewer.name, actor=viewer.name)
        return view.proposal.id

    proposal_id = await run_in_threadpool(act)
    return web.done(f"/proposals/{proposal_id}")
