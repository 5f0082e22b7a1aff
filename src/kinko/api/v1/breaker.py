"""``/v1/breaker``: the circuit breaker, its log, tripping it, proposing its reset."""

from __future__ import annotations

from fastapi import APIRouter

from kinko.api.v1.deps import CONFLICT, ERRORS, Audited, Operator, Reader, Services, from_memory
from kinko.api.v1.models import BreakerEventOut, BreakerOut, ResetOut, TripIn, TrippedOut
from kinko.domain.messages import verbatim
from kinko.i18n import ENGLISH
from kinko.services.withdrawals import Withdrawals

__all__ = ["router"]

router = APIRouter(prefix="/v1/breaker", tags=["breaker"],
                   responses={**ERRORS, **CONFLICT})


@router.get("")
async def breaker(who: Reader, api: Services) -> BreakerOut:
    # from memory, unless the breaker changed since this process read it
    return await from_memory(api, lambda: _breaker(api.withdrawals))


def _breaker(w: Withdrawals) -> BreakerOut:
    return BreakerOut(tripped=sorted(w.breaker()), log=[BreakerEventOut(
        id=e["id"], scope=e["scope"], event=e["event"], at=e["at"].isoformat(),
        at_us=e["at_us"], by=e["by"], reason=ENGLISH.text(e["reason"]),
        reason_message=e["reason"].to_data()) for e in w.breaker_log()])


@router.post("/trip")
def trip(body: TripIn, who: Operator, api: Services, audit: Audited) -> TrippedOut:
    w = api.withdrawals
    w.trip(body.scope, who.name, verbatim(body.reason), actor=audit.actor)
    return TrippedOut(tripped=sorted(w.breaker()))


@router.post("/{scope}/reset")
def propose_reset(scope: str, who: Operator, api: Services, audit: Audited) -> ResetOut:
    """Propose a reset; a quorum approves it at /v1/proposals/{id}/approve."""
    view = api.withdrawals.propose_reset(scope, who.name, actor=audit.actor)
    return ResetOut(proposal=view.proposal.id, canonical=view.proposal.canonical(),
                    quorum=view.quorum)
