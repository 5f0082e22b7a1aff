"""Proposals and m-of-n approvals with Ed25519 signatures.

Nothing moves customer funds, and no policy changes, on one person's word. A
:class:`Proposal` (a sweep, a refill, a new policy version) has a canonical byte form; an
approver signs those bytes with their Ed25519 key, offline if they like, and kinko checks
each signature against the public key registered in the active policy::

    message = signing_bytes(proposal)             # b"kinko-proposal-v1\\n{...canonical JSON...}"
    signature = private_key.sign(message)          # on the approver's machine
    check_approval(proposal, policy, Approval("alice", signature.hex(), now), now)

An approval is refused when the signer is not registered, is the proposer, signed something
else (forged or altered proposal), approves twice, or comes after the proposal expired.
When kinko records an approval or executes, a proposal expires at the expiry stored with it
or, if earlier, once it is older than the policy in force allows (:func:`lapses_at`): one
stored under a longer lifetime than today's policy grants, or before lifetimes were
bounded, cannot outlive that bound.
:func:`quorum_reached` counts only valid approvals from distinct approvers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from kinko.domain.ledger import format_timestamp
from kinko.domain.messages import Time, msg
from kinko.domain.policy import TTL_HOURS_MAX, Policy
from kinko.errors import ApprovalError

__all__ = [
    "PREAUTHORISED",
    "Approval",
    "Proposal",
    "ProposalKind",
    "check_approval",
    "lapses_at",
    "preauthorisation",
    "preauthorised_by",
    "public_key_hex",
    "quorum_reached",
    "sign_proposal",
    "signing_bytes",
]

ProposalKind = Literal["sweep", "refill", "policy", "withdrawal", "breaker", "refund"]


@dataclass(frozen=True)
class Proposal:
    id: str
    kind: ProposalKind
    payload: dict[str, Any]  # JSON-able; amounts as strings of minor units
    proposer: str
    created_at: datetime
    expires_at: datetime
    policy_version: int

    def canonical(self) -> str:
        return json.dumps({
            "id": self.id, "kind": self.kind, "payload": self.payload,
            "proposer": self.proposer, "created_at": format_timestamp(self.created_at),
            "expires_at": format_timestamp(self.expires_at),
            "policy_version": self.policy_version,
        }, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Approval:
    approver: str
    signature: str  # hex
    approved_at: datetime


def signing_bytes(proposal: Proposal) -> bytes:
    return b"kinko-proposal-v1\n" + proposal.canonical().encode()


def sign_proposal(proposal: Proposal, private_key: Ed25519PrivateKey) -> str:
    """The approver's side: a hex signature over the proposal's canonical bytes."""
    return private_key.sign(signing_bytes(proposal)).hex()


def public_key_hex(private_key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def lapses_at(proposal: Proposal, policy: Policy | None) -> datetime:
    """When ``proposal`` expires under ``policy`` (the one in force; None: none is): its
    stored expiry, or its creation plus the policy's proposal lifetime (never more than
    ``TTL_HOURS_MAX``), whichever is earlier."""
    hours = TTL_HOURS_MAX if policy is None else min(policy.proposal_ttl_hours, TTL_HOURS_MAX)
    try:
        bound = proposal.created_at + timedelta(hours=hours)
    except OverflowError:  # created within ten years of the calendar's end
        return proposal.expires_at
    return min(proposal.expires_at, bound)


def check_approval(proposal: Proposal, policy: Policy, approval: Approval,
                   earlier: list[Approval], now: datetime, *,
                   lapsed: datetime | None = None) -> None:
    """Raise :class:`ApprovalError` unless ``approval`` is a valid, new, timely approval:
    given before ``lapsed`` (default the proposal's stored expiry; kinko passes
    :func:`lapses_at` under the policy in force when it records an approval)."""
    who = approval.approver
    registered = policy.approver(who)
    if registered is None:
        raise ApprovalError(f"{who!r} is not an approver in policy version {policy.version}",
                            approver=who, says=msg("error.not_an_approver", name=who,
                                                   version=str(policy.version)))
    if who == proposal.proposer:
        raise ApprovalError(f"{who} proposed {proposal.id} and cannot approve it", approver=who,
                            says=msg("error.own_proposal", name=who, id=proposal.id))
    if any(a.approver == who for a in earlier):
        raise ApprovalError(f"{who} has already approved {proposal.id}", approver=who,
                            says=msg("error.approved_already", name=who, id=proposal.id))
    lapsed = proposal.expires_at if lapsed is None else lapsed
    if now >= lapsed:
        raise ApprovalError(
            f"proposal {proposal.id} expired at {format_timestamp(lapsed)}",
            approver=who, says=msg("error.proposal_expired", id=proposal.id, at=Time(lapsed)))
    try:
        signature = bytes.fromhex(approval.signature)
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(registered.public_key)).verify(
            signature, signing_bytes(proposal))
    except (ValueError, InvalidSignature):
        raise ApprovalError(
            f"the signature given for {who} does not verify against {who}'s registered key "
            f"over proposal {proposal.id}: forged, or signed over different content",
            approver=who, says=msg("error.signature_forged", name=who, id=proposal.id)
        ) from None


def quorum_reached(policy: Policy, approvals: list[Approval]) -> bool:
    """Whether ``approvals`` come from as many approvers as the quorum, counted by their
    keys (a policy never names one key twice; one stored before that check is not
    trusted to)."""
    keys = {a.name: a.public_key for a in policy.approvers}
    return len({keys.get(a.approver, a.approver) for a in approvals}) >= policy.quorum


PREAUTHORISED = "policy: "  # an approval given in advance by a quorum-approved policy
_PREAUTH = re.compile(r"^policy: v(\d+) (\S+)$")


def preauthorised_by(version: int, clause: str) -> str:
    """The approver recorded for an action the policy authorised in advance: which version,
    which clause (``policy: v3 watch.emergency_sweep=auto``)."""
    return f"{PREAUTHORISED}v{version} {clause}"


def preauthorisation(approver: str) -> tuple[int, str] | None:
    """(policy version, clause) of an approval recorded by :func:`preauthorised_by`."""
    found = _PREAUTH.match(approver)
    return None if found is None else (int(found.group(1)), found.group(2))
