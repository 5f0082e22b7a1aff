"""The REST API's bodies and answers, as pydantic models: what the OpenAPI spec (and so
``/docs``) shows for every route. Bodies are bounded field by field (lengths), answers say
what each field holds; amounts are decimal text in whole units of the asset, exactly."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from kinko.domain.screening import Outcome
from kinko.domain.states import ProposalState, WithdrawalState

__all__ = [
    "ApprovalIn",
    "ApprovalOut",
    "AuditCheckOut",
    "AuditProblemOut",
    "AuditRecordOut",
    "BalanceOut",
    "BreakerEventOut",
    "BreakerOut",
    "CustodyFindingOut",
    "CustodyOut",
    "CustodyRowOut",
    "DecisionOut",
    "HitMessages",
    "HitOut",
    "PolicyStandingOut",
    "PolicyVersionsOut",
    "RejectIn",
    "ResetOut",
    "ReviewOut",
    "TierIn",
    "TierOut",
    "TripIn",
    "TrippedOut",
    "VetoIn",
    "VetoOut",
    "WithdrawalIn",
    "WithdrawalOut",
]


# ------------------------------------------------------------------------------- bodies


class _Body(BaseModel):
    """A request's body: a key it does not name is refused (a misspelt optional field,
    ``"reasn"`` for ``"reason"``, was dropped without a word)."""

    model_config = ConfigDict(extra="forbid")


class WithdrawalIn(_Body):
    customer: str = Field(min_length=1, max_length=128)
    asset: str = Field(min_length=1, max_length=16)
    amount: str = Field(min_length=1, max_length=64, description="Whole units, e.g. \"1.5\".")
    destination: str = Field(min_length=1, max_length=128)
    tier: SkipJsonSchema[Any] = Field(default=None, exclude=True)  # refused: see the route


class TierIn(_Body):
    tier: str = Field(min_length=1, max_length=32,
                      description="One of the tiers the active policy declares.")


class ApprovalIn(_Body):
    approver: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=256,
                           description="Ed25519 signature (hex) over the canonical proposal.")


class VetoIn(_Body):
    approver: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=256,
                           description="Ed25519 signature (hex) over the veto bytes of the "
                           "version (`kinko approvers sign-veto`).")
    reason: str = Field(default="", max_length=500)


class RejectIn(_Body):
    reason: str = Field(min_length=1, max_length=500)


class TripIn(_Body):
    scope: str = Field(min_length=1, max_length=16, description="An asset, or * for all.")
    reason: str = Field(min_length=1, max_length=500)


# ------------------------------------------------------------------------------ answers


class HitMessages(BaseModel):
    reason: dict[str, Any] = Field(description="The reason as a catalog message (id, args).")
    detail: dict[str, Any] = Field(description="What matched, as a catalog message.")


class HitOut(BaseModel):
    """A screening rule that matched."""

    rule: str
    kind: str = Field(description="The rule's kind (`kinko withdrawals rules`).")
    action: Outcome
    reason: str = Field(description="Why the rule exists, in English.")
    detail: str = Field(description="What matched, with the figures, in English.")
    messages: HitMessages = Field(description="The same words as catalog messages, for a "
                                  "client that shows them in another language.")


class DecisionOut(BaseModel):
    outcome: Outcome = Field(description="The strictest action among the hits.")
    policy_version: int
    hits: list[HitOut]


class ReviewOut(BaseModel):
    """The proposal a withdrawal held for review became: what approvers sign(ed)."""

    id: str
    canonical: str = Field(description="The canonical bytes approvers sign, as text.")
    approvers: list[str]


class ClosedOut(BaseModel):
    """Who rejected a withdrawal (or found its transaction displaced) and why."""

    by: str = Field(description="Who closed it (kinko:watch for kinko's own containment).")
    reason: str = Field(description="Why, in English.")
    reason_message: dict[str, Any] = Field(description="Why, as a catalog message (id, args).")


class WithdrawalOut(BaseModel):
    id: str
    customer: str
    asset: str
    proposal: ReviewOut | None = Field(description="Set when the withdrawal was reviewed.")
    amount: str = Field(description="Whole units of the asset, exactly.")
    destination: str
    state: WithdrawalState
    tx_hash: str | None
    approvals: int
    quorum: int = Field(description="Approvals needed; 0 when no review was needed.")
    decision: DecisionOut
    closed: ClosedOut | None = Field(default=None, description="A rejected or failed "
                                     "withdrawal read by its id: who closed it and why.")


class BreakerEventOut(BaseModel):
    id: int
    scope: str = Field(description="An asset, or * for all.")
    event: str = Field(description="trip or reset.")
    at: str = Field(description="When, ISO 8601.")
    at_us: int = Field(description="When, microseconds since the epoch.")
    by: str
    reason: str = Field(description="Why, in English.")
    reason_message: dict[str, Any] = Field(description="Why, as a catalog message.")


class BreakerOut(BaseModel):
    tripped: list[str] = Field(description="The scopes tripped now.")
    log: list[BreakerEventOut]


class TrippedOut(BaseModel):
    tripped: list[str] = Field(description="The scopes tripped now.")


class ResetOut(BaseModel):
    proposal: str
    canonical: str = Field(description="What approvers sign.")
    quorum: int


class ApprovalOut(BaseModel):
    proposal: str
    kind: str
    state: ProposalState
    approvers: list[str]
    quorum: int
    reset: bool = Field(description="This approval reset a breaker.")
    tripped: list[str] = Field(description="The breaker's scopes tripped now.")


class TierOut(BaseModel):
    customer: str
    tier: str
    set_at: str | None = Field(description="When it was recorded (None: never; the default "
                               "tier applies).")
    set_by: str | None


class BalanceOut(BaseModel):
    account: str
    asset: str
    balance: str = Field(description="Whole units, exactly.")
    held: str = Field(description="Reserved for withdrawals in flight, whole units.")


class AuditRecordOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    target: str
    detail: Any
    prev_hash: str
    hash: str


class AuditProblemOut(BaseModel):
    seq: int
    message: str


class AuditCheckOut(BaseModel):
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    problems: list[AuditProblemOut]


class VetoOut(BaseModel):
    approver: str
    at: str
    reason: str


class PolicyStandingOut(BaseModel):
    """A custody policy version and where it stands."""

    version: int
    state: str = Field(description="effective, pending, vetoed, superseded, unverifiable or "
                       "unreadable.")
    digest: str | None
    approved_at: str
    effective_at: str | None = Field(description="When it takes (or took) effect; None: "
                                     "never.")
    proposed_under: int | None
    time_lock_hours: float
    loosens: list[str]
    tightens: list[str]
    vetoed_by: list[VetoOut]


class PolicyVersionsOut(BaseModel):
    versions: list[PolicyStandingOut]


class CustodyRowOut(BaseModel):
    asset: str
    customers: int
    liabilities: str
    hot: str
    warm: str
    cold: str
    online_share: str | None
    max_hot_ratio: str | None
    guarantee_required: str
    guarantee_held: str


class CustodyFindingOut(BaseModel):
    code: str
    severity: str
    asset: str | None
    law: str | None
    message: str = Field(description="In English.")
    message_id: dict[str, Any] = Field(description="As a catalog message.")


class CustodyOut(BaseModel):
    generated_at: str
    policy_version: int | None
    assets: list[CustodyRowOut]
    findings: list[CustodyFindingOut]
