"""``/v1/policy``: the custody policy in force, every version's standing, vetoes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kinko.api.v1.deps import (
    CONFLICT,
    ERRORS,
    NOT_FOUND,
    Audited,
    Caller,
    Reader,
    Services,
    acting_for,
)
from kinko.api.v1.models import PolicyStandingOut, PolicyVersionsOut, VetoIn
from kinko.domain.messages import msg
from kinko.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/v1/policy", tags=["policy"],
                   responses={**ERRORS, **NOT_FOUND, **CONFLICT})


@router.get("")
def policy(who: Reader, api: Services) -> dict[str, Any]:
    """The policy in force, in its canonical form (the policy file's fields)."""
    active = api.custody().policy()
    if active is None:
        raise NotFound("no custody policy is loaded", says=msg("error.policy.not_loaded"))
    return active.canonical()


@router.get("/versions")
def policy_versions(who: Reader, api: Services) -> PolicyVersionsOut:
    """Every policy version, newest first: ``effective`` (in force), ``pending`` (a
    loosening waiting for its time lock, with when it takes effect and what it loosens),
    ``vetoed``, ``superseded``, ``unverifiable`` or ``unreadable``."""
    return PolicyVersionsOut(versions=[PolicyStandingOut.model_validate(s.as_dict())
                                       for s in api.custody().policy_standings()])


@router.post("/versions/{version}/veto")
def veto_policy(version: int, body: VetoIn, who: Caller, api: Services,
                audit: Audited) -> PolicyStandingOut:
    """One approver's veto of a pending loosening: it never takes effect. Signed by an
    approver of the version it was proposed under; audited."""
    with audit.refusal("policy.veto.refused", f"policy-v{version}",
                       {"approver": body.approver}):
        acting_for(who, body.approver, "veto")
        found = api.custody().veto(version, body.approver, body.signature, body.reason,
                                   actor=audit.actor)
    return PolicyStandingOut.model_validate(found.as_dict())
