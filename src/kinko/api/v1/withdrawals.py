"""``/v1/withdrawals``: request (screened and recorded), list, read, approve, reject."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from kinko.api.v1.deps import (
    CONFLICT,
    ERRORS,
    NOT_FOUND,
    REFUSED,
    Api,
    Audited,
    Caller,
    Operator,
    Reader,
    Services,
    acting_for,
    answer,
    next_page,
    operating,
    writing,
)
from kinko.api.v1.direct import Problems, json_body, reading, required_header, validated
from kinko.api.v1.models import (
    ApprovalIn,
    ClosedOut,
    DecisionOut,
    HitMessages,
    HitOut,
    RejectIn,
    ReviewOut,
    WithdrawalIn,
    WithdrawalOut,
)
from kinko.domain.messages import msg
from kinko.domain.money import format_units, parse_units
from kinko.domain.screening import RuleHit
from kinko.errors import TierRefused
from kinko.i18n import ENGLISH
from kinko.services.access import ApiKey, Forbidden
from kinko.services.withdrawals import Withdrawals, WithdrawalView

__all__ = ["approving", "router"]

router = APIRouter(prefix="/v1/withdrawals", tags=["withdrawals"],
                   responses={**ERRORS, **NOT_FOUND, **CONFLICT, **REFUSED})


def hit(h: RuleHit) -> HitOut:
    """A rule hit: its words in English, and as catalog messages (id and parameters) for a
    client that shows them in another language (:meth:`RuleHit.to_data`)."""
    data = h.to_data()
    return HitOut(rule=data["rule"], kind=data["kind"], action=data["action"],
                  reason=ENGLISH.text(h.reason), detail=ENGLISH.text(h.detail),
                  messages=HitMessages(reason=data["reason"], detail=data["detail"]))


def shape(w: Withdrawals, v: WithdrawalView) -> WithdrawalOut:
    asset = w.ledger.assets[v.asset]
    proposal = None
    if v.quorum and v.proposal is not None:  # made by this request: nobody approved yet
        proposal = ReviewOut(id=v.proposal.id, canonical=v.proposal.canonical(), approvers=[])
    elif v.quorum:  # reviewed: what approvers sign(ed)
        p = w.custody.proposal(f"withdrawal-{v.id}")
        if p is not None:
            proposal = ReviewOut(id=p.proposal.id, canonical=p.proposal.canonical(),
                                 approvers=[a.approver for a in p.approvals])
    return WithdrawalOut(
        id=v.id, customer=v.customer, asset=v.asset, proposal=proposal,
        amount=format_units(v.amount, asset), destination=v.destination, state=v.state,
        tx_hash=v.tx_hash, approvals=v.approvals, quorum=v.quorum,
        decision=DecisionOut(outcome=v.decision.outcome,
                             policy_version=v.decision.policy_version,
                             hits=[hit(h) for h in v.decision.hits]),
        closed=None if v.closed_why is None else ClosedOut(
            by=v.closed_by, reason=ENGLISH.text(v.closed_why),
            reason_message=v.closed_why.to_data()))


def approving(api: Api, who: ApiKey, approver: str, proposal_id: str) -> None:
    """An approval is given by the key's holder (an admin may relay one); a refused one is
    audited."""
    try:
        acting_for(who, approver, "approve")
    except Forbidden as exc:
        api.withdrawals.refused_approval(who.name, proposal_id, approver, exc)
        raise


async def create_withdrawal(request: Request, body: WithdrawalIn, who: Operator,
                            idempotency_key: Annotated[str, Header(min_length=1)]
                            ) -> Response:
    """Screen and record a withdrawal; retrying with the same Idempotency-Key (1-100 of
    ``A-Z a-z 0-9 . _ : -``, starting with a letter or digit; it becomes the withdrawal's
    id) returns the first result. The customer's recorded tier applies: a body naming a
    ``tier`` is refused."""
    if "tier" in body.model_fields_set:  # named at all, null too: refused, not ignored
        raise TierRefused("a withdrawal request cannot name a tier: the customer's tier is "
                          "recorded in kinko (PUT /v1/customers/{id}/tier) and applies to "
                          "every request", field="tier",
                          says=msg("error.withdrawal.tier_named_api"))
    api: Api = request.app.state.api  # as ``Services`` gives it, without a dependency's cost
    w = api.withdrawals

    def work() -> bytes:
        units = parse_units(body.amount, w.ledger.assets[body.asset])
        # screened, reserved and recorded in one unit of work, the answer from what it wrote
        view = w.request(idempotency_key, body.customer, body.asset, units, body.destination,
                         requester=who.name, actor=who.name)
        return answer(shape(w, view))

    # the unit of work and the answer's JSON (built from the model here, so FastAPI does not
    # validate it again) on the event loop where the store does that without waiting for
    # long, else in one trip to a worker thread
    return Response(await writing(w.store, work), status_code=201,
                    media_type="application/json")


async def _create_arguments(request: Request) -> dict[str, Any]:
    """``create_withdrawal``'s arguments, read as FastAPI would read its signature (the
    busiest route: :mod:`kinko.api.v1.direct`)."""
    value = await json_body(request)
    headers = request.headers
    who = await operating(request, headers.get("authorization"), headers.get("x-api-key"))
    problems: Problems = []
    key = required_header(request, "idempotency-key", problems)
    body = validated(WithdrawalIn, value, problems)
    if problems:
        raise RequestValidationError(problems)
    return {"request": request, "body": body, "who": who, "idempotency_key": key}


router.add_api_route("", create_withdrawal, methods=["POST"], status_code=201,
                     response_model=WithdrawalOut,
                     route_class_override=reading(_create_arguments))


@router.get("")
def list_withdrawals(request: Request, response: Response, who: Reader, api: Services,
                     state: Annotated[str | None, Query(max_length=16)] = None,
                     customer: Annotated[str | None, Query(max_length=128)] = None,
                     asset: Annotated[str | None, Query(max_length=16)] = None,
                     before: Annotated[str | None, Query(max_length=300)] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     ) -> list[WithdrawalOut]:
    """Withdrawals newest first, a page at a time: the next page is in the ``Link`` header
    (``rel="next"``) and its cursor in ``X-Next-Cursor`` (pass it as ``before``)."""
    w = api.withdrawals
    page = w.page(state=state, customer=customer, asset=asset, before=before, limit=limit)
    if page.older is not None:
        next_page(request, response, "before", page.older)
    return [shape(w, v) for v in page.rows]


@router.get("/{withdrawal_id}")
def get_withdrawal(withdrawal_id: str, who: Reader, api: Services) -> WithdrawalOut:
    w = api.withdrawals
    return shape(w, w.get(withdrawal_id))


@router.post("/{withdrawal_id}/approve")
def approve_withdrawal(withdrawal_id: str, body: ApprovalIn, who: Caller, api: Services,
                       audit: Audited) -> WithdrawalOut:
    """Record an approval. The approver named must be the key's holder."""
    approving(api, who, body.approver, f"withdrawal-{withdrawal_id}")
    w = api.withdrawals
    view = w.approve(withdrawal_id, body.approver, body.signature, actor=audit.actor)
    return shape(w, view)


@router.post("/{withdrawal_id}/reject")
def reject_withdrawal(withdrawal_id: str, body: RejectIn, who: Operator, api: Services,
                      audit: Audited) -> WithdrawalOut:
    w = api.withdrawals
    w.get(withdrawal_id)
    view = w.reject(withdrawal_id, who.name, body.reason, actor=audit.actor)
    return shape(w, view)
