"""``/v1/proposals``: approving any proposal, routed by its kind."""

from __future__ import annotations

from fastapi import APIRouter

from kinko.api.v1.deps import CONFLICT, ERRORS, NOT_FOUND, Audited, Caller, Services
from kinko.api.v1.models import ApprovalIn, ApprovalOut
from kinko.api.v1.withdrawals import approving

__all__ = ["router"]

router = APIRouter(prefix="/v1/proposals", tags=["proposals"],
                   responses={**ERRORS, **NOT_FOUND, **CONFLICT})


@router.post("/{proposal_id}/approve")
def approve_proposal(proposal_id: str, body: ApprovalIn, who: Caller, api: Services,
                     audit: Audited) -> ApprovalOut:
    """Approve any proposal (a withdrawal held for review, a breaker reset, a sweep, a
    refill, a policy, a refund override): routed by its kind before anything is recorded;
    at quorum a withdrawal is approved, a breaker reset. Every approval, and every refused
    one, is audited."""
    approving(api, who, body.approver, proposal_id)
    w = api.withdrawals
    view = w.approve_proposal(proposal_id, body.approver, body.signature, actor=audit.actor)
    kind = view.proposal.kind
    return ApprovalOut(proposal=view.proposal.id, kind=kind, state=view.state,
                       approvers=[a.approver for a in view.approvals], quorum=view.quorum,
                       reset=kind == "breaker" and view.state == "executed",
                       tripped=sorted(w.breaker()))
