"""The withdrawals queue, a withdrawal's page, and every proposal's page with approval
signing.

``/withdrawals`` lists withdrawals by state (tabs with counts), filtered by customer and
asset, 50 a page, newest first, paged with a cursor (``?before=...``: as fast on the last
page as on the first). ``/withdrawals/{id}`` shows every fact, the screening decision with
each rule hit and the policy version, the m-of-n progress and the canonical proposal; the
approve form (role ``approve``) and the reject form (role ``operate``) post back to it.

``/proposals`` and ``/proposals/{id}`` show any proposal (sweep, refill, breaker reset,
refund, policy, withdrawal) the same way; approving goes through the use case that owns the
proposal (:meth:`Withdrawals.approve_proposal`).

An approval is an Ed25519 signature over ``signing_bytes(proposal)``, made by the approver
with their own key: pasted (``kinko approvers sign``) or made in the browser by
``static/sign.js`` from the approver's key file and password, which never leave the page
(the key inputs belong to no submitted form). The server verifies every signature.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from kinko.api.web.context import Site, Viewer, Web, form_signature, form_text
from kinko.domain.approvals import signing_bytes
from kinko.domain.messages import N_, msg
from kinko.domain.money import format_units
from kinko.domain.states import OPEN_WITHDRAWAL_STATES, PROPOSAL_STATES, WITHDRAWAL_STATES
from kinko.errors import BadInput, NotFound
from kinko.safeload import whole_number
from kinko.services.access import Forbidden
from kinko.services.custody import ProposalView, unknown_proposal

__all__ = ["router"]

PAGE_SIZE = 50
DEFAULT_STATE = "review"


def _signing_b64(view: ProposalView) -> str:
    return base64.b64encode(signing_bytes(view.proposal)).decode()


def _payload(web: Web, view: ProposalView) -> list[tuple[str, str]]:
    """The proposal's payload as (field, text), amounts shown in whole units too."""
    payload = view.proposal.payload
    assets = web.withdrawals.ledger.assets
    symbol = payload.get("asset")
    out = []
    for name, value in sorted(payload.items()):
        text = value if isinstance(value, str) else repr(value)
        if name == "amount" and isinstance(symbol, str) and symbol in assets \
                and isinstance(value, str) and whole_number(value.removeprefix("-"),
                                                            digits=80) is not None:
            text = f"{format_units(int(value), assets[symbol])} {symbol} ({value})"
        out.append((name, text))
    return out


def _approver(web: Web, viewer: Viewer, form: dict[str, Any], proposal_id: str) -> str:
    """The approver named on the form: the key's holder; an admin may relay another's. A
    key that may not approve, or not as that approver, is refused and audited."""
    approver = viewer.name
    try:
        approver = form_text(form, "approver", 64, N_("prop.approve_as")) or viewer.name
        viewer.session.key.require("approve")
        if approver != viewer.name and viewer.role != "admin":
            raise Forbidden(f"key {viewer.name!r} cannot approve as {approver!r}",
                            says=msg("error.cannot_act_as", key=viewer.name, name=approver))
    except Forbidden as error:
        web.withdrawals.refused_approval(viewer.name, proposal_id, approver, error)
        raise
    return approver


router = APIRouter(include_in_schema=False)


def proposal_data(web: Web, view: ProposalView | None) -> dict[str, Any]:
    if view is None:
        return {"proposal": None, "signing_b64": "", "payload": []}
    return {"proposal": view, "signing_b64": _signing_b64(view),
            "payload": _payload(web, view),
            "expired": web.clock.now() >= view.lapses_at}


@router.get("/withdrawals")
def queue(request: Request, web: Site,
          state: Annotated[str | None, Query(max_length=16)] = None,
          customer: Annotated[str, Query(max_length=128)] = "",
          asset: Annotated[str, Query(max_length=16)] = "",
          before: Annotated[str, Query(max_length=300)] = "") -> HTMLResponse:
    viewer = web.page(request)
    chosen = DEFAULT_STATE if state is None else state
    page = web.withdrawals.page(state=None if chosen in ("", "all") else chosen,
                                customer=customer.strip() or None,
                                asset=asset.strip() or None, before=before or None,
                                limit=PAGE_SIZE)
    filters = {k: v for k, v in (("customer", customer.strip()),
                                 ("asset", asset.strip())) if v}

    def link(**change: str) -> str:
        params = {"state": chosen or "all", **filters, **change}
        return "/withdrawals?" + urlencode({k: v for k, v in params.items() if v})

    return web.render(request, "withdrawals.html.j2", viewer, page=page,
                      state=chosen or "all", states=WITHDRAWAL_STATES,
                      customer=customer.strip(), asset=asset.strip(),
                      assets=web.withdrawals.ledger.assets,
                      link=link, first_page=not before, total=sum(page.counts.values()),
                      quote=lambda v: quote(v, safe=""))


@router.get("/withdrawals/{withdrawal_id}")
def detail(request: Request, web: Site, withdrawal_id: str) -> HTMLResponse:
    viewer = web.page(request)
    view = web.withdrawals.get(withdrawal_id)
    proposal = web.withdrawals.custody.proposal(f"withdrawal-{withdrawal_id}")
    quoted = quote(withdrawal_id, safe="")
    return web.render(request, "withdrawals_detail.html.j2", viewer, w=view,
                      a=web.withdrawals.ledger.assets[view.asset],
                      can_reject=viewer.can("operate") and view.state in OPEN_WITHDRAWAL_STATES,
                      approve_to=f"/withdrawals/{quoted}/approve",
                      reject_to=f"/withdrawals/{quoted}/reject",
                      quote=lambda v: quote(v, safe=""),
                      **proposal_data(web, proposal))


@router.post("/withdrawals/{withdrawal_id}/approve")
async def approve(request: Request, web: Site, withdrawal_id: str) -> Response:
    form = dict(await request.form())
    viewer = await run_in_threadpool(web.form, request, form, "read")  # role: _approver

    def work() -> None:
        approver = _approver(web, viewer, form, f"withdrawal-{withdrawal_id}")
        signature = form_signature(form)
        web.withdrawals.get(withdrawal_id)
        web.withdrawals.approve(withdrawal_id, approver, signature, actor=viewer.name)

    await run_in_threadpool(work)
    return web.done(f"/withdrawals/{quote(withdrawal_id, safe='')}")


@router.post("/withdrawals/{withdrawal_id}/reject")
async def reject(request: Request, web: Site, withdrawal_id: str) -> Response:
    form = dict(await request.form())
    viewer = await run_in_threadpool(web.form, request, form, "operate")
    reason = form.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > 500:
        raise BadInput("give a reason for rejecting (1-500 characters)",
                       says=msg("error.reject_reason", limit=500))

    def work() -> None:
        web.withdrawals.get(withdrawal_id)
        web.withdrawals.reject(withdrawal_id, viewer.name, reason, actor=viewer.name)

    await run_in_threadpool(work)
    return web.done(f"/withdrawals/{quote(withdrawal_id, safe='')}")


@router.get("/proposals")
def proposals(request: Request, web: Site,
              state: Annotated[str, Query(max_length=16)] = "pending") -> HTMLResponse:
    viewer = web.page(request)
    if state not in (*PROPOSAL_STATES, "all"):
        raise BadInput(f"state must be one of {', '.join(PROPOSAL_STATES)} or all",
                       says=msg("error.unknown_filter", field=msg("error.field.state"),
                                value=state))
    views = web.withdrawals.custody.proposals(None if state == "all" else state)
    return web.render(request, "withdrawals_proposals.html.j2", viewer, views=views,
                      state=state, states=PROPOSAL_STATES, now=web.clock.now(),
                      quote=lambda v: quote(v, safe=""))


@router.get("/proposals/{proposal_id}")
def proposal(request: Request, web: Site, proposal_id: str) -> HTMLResponse:
    viewer = web.page(request)
    view = web.withdrawals.custody.proposal(proposal_id)
    if view is None:
        raise unknown_proposal(proposal_id, NotFound)
    withdrawal = view.proposal.payload.get("withdrawal") \
        if view.proposal.kind == "withdrawal" else None
    owners = web.withdrawals.custody.owners_signing(proposal_id)
    return web.render(request, "withdrawals_proposal_page.html.j2", viewer,
                      approve_to=f"/proposals/{quote(proposal_id, safe='')}/approve",
                      owners_to=f"/proposals/{quote(proposal_id, safe='')}/owner-signature",
                      safe_tx=owners[0] if owners else None,
                      owner_signatures=owners[1] if owners else [],
                      withdrawal=withdrawal if isinstance(withdrawal, str) else None,
                      quote=lambda v: quote(v, safe=""), **proposal_data(web, view))


@router.post("/proposals/{proposal_id}/owner-signature")
async def owner_signature(request: Request, web: Site, proposal_id: str) -> Response:
    form = dict(await request.form())
    viewer = await run_in_threadpool(web.form, request, form, "approve")
    owner = form.get("owner")
    owner = owner.strip() if isinstance(owner, str) else ""
    if not owner or len(owner) > 128:
        raise BadInput("give your owner address (the key you signed with)",
                       says=msg("error.owner_missing"))
    text = form.get("signature")
    text = text.strip().removeprefix("0x") if isinstance(text, str) else ""
    if len(text) != 130:
        raise BadInput("an owner's signature is 65 bytes: 130 hexadecimal characters",
                       says=msg("error.signature_length", digits=130))
    try:
        signature = bytes.fromhex(text)
    except ValueError:
        raise BadInput("the signature is not hexadecimal",
                       says=msg("error.signature_not_hex")) from None

    def work() -> None:
        if web.withdrawals.custody.proposal(proposal_id) is None:
            raise unknown_proposal(proposal_id, NotFound)
        web.withdrawals.custody.add_owner_signature(proposal_id, owner, signature,
                                                    actor=viewer.name)

    await run_in_threadpool(work)
    return web.done(f"/proposals/{quote(proposal_id, safe='')}")


@router.post("/proposals/{proposal_id}/approve")
async def approve_proposal(request: Request, web: Site, proposal_id: str) -> Response:
    form = dict(await request.form())
    viewer = await run_in_threadpool(web.form, request, form, "read")  # role: _approver

    def work() -> None:
        approver = _approver(web, viewer, form, proposal_id)
        signature = form_signature(form)
        if web.withdrawals.custody.proposal(proposal_id) is None:
            raise unknown_proposal(proposal_id, NotFound)
        web.withdrawals.approve_proposal(proposal_id, approver, signature,
                                         actor=viewer.name)

    await run_in_threadpool(work)
    return web.done(f"/proposals/{quote(proposal_id, safe='')}")
