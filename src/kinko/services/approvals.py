"""One approve path for every proposal, routed by its kind before anything is recorded.

Every proposal (a withdrawal held for review, a breaker reset, a sweep, a refill, a policy
version, a refund override) is approved here, whichever door the approver came through
(``kinko proposals approve``, ``kinko withdrawals approve``, ``kinko breaker approve``,
``POST /v1/proposals/{id}/approve``, the dashboard). In one unit of work:

1. the proposal is read and its kind checked (against the kind the caller expects, if it
   says: ``kinko breaker approve`` on a withdrawal's review records nothing);
2. what the kind requires is checked (a withdrawal still held for review, a breaker still
   tripped), then the Ed25519 approval is checked and recorded
   (:meth:`Custody.record_approval`);
3. at quorum the owner moves on: the withdrawal is approved, the breaker reset (with the
   incident timelines), a policy activated; the proposal is then executed;
4. the audit record (``<kind>.approve``) is written.

A refused approval (forged, duplicate, self, late, wrong kind, unknown) writes nothing but
its own audit record (``<kind>.approve.refused``, with the reason), in a unit of its own::

    view = Approvals(custody).approve("withdrawal-W-7", "alice", signature, actor="alice")
    view.state   # "pending" (1 of 2), then "executed" when the quorum is reached
"""

from __future__ import annotations

import logging

from kinko.domain.approvals import Proposal
from kinko.domain.messages import id_shown, msg
from kinko.errors import ApprovalError, EnvironmentProblem, KinkoError, NotFound
from kinko.ports import Unit
from kinko.services.access import Access
from kinko.services.custody import Custody, ProposalView, unknown_proposal
from kinko.services.timeline import incidents_for, record, scope_word

__all__ = ["Approvals"]

log = logging.getLogger("kinko.approvals")

_TEXT = 200  # longest id kept in an audit record's target


class Approvals:
    """See the module docstring."""

    def __init__(self, custody: Custody) -> None:
        self.custody = custody
        self.store = custody.ledger.store
        self.clock = custody.clock
        self._access = Access(self.store, self.clock)

    def approve(self, proposal_id: str, approver: str, signature: str, *,
                actor: str | None = None, kind: str | None = None) -> ProposalView:
        """Approve ``proposal_id`` as ``approver`` (see the module docstring); ``actor`` is
        who is audited (default the approver), ``kind`` the kind the caller expects."""
        actor = actor or approver
        try:
            with self.store.unit() as u:
                row = u.custody.proposal(proposal_id)
                if row is None:
                    raise self._unknown(u, proposal_id, kind)
                proposal = row[0]
                if kind is not None and proposal.kind != kind:
                    raise ApprovalError(f"proposal {proposal_id} is a {proposal.kind} proposal, "
                                        f"not a {kind} proposal: nothing was recorded",
                                        proposal=proposal_id, kind=proposal.kind,
                                        says=msg("error.approval.wrong_kind", id=proposal.id,
                                                 kind=msg(f"prop.kind.{proposal.kind}"),
                                                 expected=msg(f"prop.kind.{kind}")))
                target = proposal_id
                if proposal.kind == "withdrawal":
                    target = str(proposal.payload["withdrawal"])
                    view = self._withdrawal(u, proposal, approver, signature)
                elif proposal.kind == "breaker":
                    view = self._reset(u, proposal, approver, signature)
                else:
                    view = self.custody.record_approval(proposal_id, approver, signature)
                self._access.audit(actor, f"{proposal.kind}.approve", target,
                                   {"proposal": proposal_id, "approver": approver,
                                    "state": view.state, "approvals": len(view.approvals),
                                    "quorum": view.quorum})
                return view
        except KinkoError as exc:
            if not isinstance(exc, EnvironmentProblem):
                try:
                    self.refused(actor, proposal_id, approver, exc, kind)
                except EnvironmentProblem as lost:  # the refusal itself stands
                    log.error("refused approval of %s by %s not audited: %s",
                              proposal_id[:_TEXT], actor, lost.message)
            raise

    def refused(self, actor: str, proposal_id: str, approver: str, error: KinkoError,
                kind: str | None = None) -> None:
        """Audit a refused approval, in its own unit (the refused one wrote nothing)."""
        with self.store.unit() as u:
            row = u.custody.proposal(proposal_id[:_TEXT])
            what = row[0].kind if row is not None else kind or "proposal"
            self._access.audit(actor, f"{what}.approve.refused", proposal_id,
                               {"approver": approver[:_TEXT], "error": error.code,
                                "reason": error.message[:500]})

    def _unknown(self, u: Unit, proposal_id: str, kind: str | None) -> KinkoError:
        if kind == "withdrawal":  # a withdrawal's review: say why it has none
            withdrawal_id = proposal_id.removeprefix("withdrawal-")
            row = u.screening.withdrawal(withdrawal_id)
            if row is None:
                shown = id_shown(withdrawal_id)
                return NotFound(f"unknown withdrawal {shown!r}",
                                says=msg("error.unknown_withdrawal", id=shown))
            return ApprovalError(f"withdrawal {withdrawal_id} is {row['state']}: only a "
                                 "withdrawal held for review is approved",
                                 says=msg("error.withdrawal_not_in_review", id=row["id"],
                                          state=msg(f"wd.state.{row['state']}")))
        return unknown_proposal(proposal_id, NotFound)

    def _withdrawal(self, u: Unit, proposal: Proposal, approver: str,
                    signature: str) -> ProposalView:
        withdrawal_id = str(proposal.payload["withdrawal"])
        row = u.screening.withdrawal(withdrawal_id)
        state = row["state"] if row is not None else "unknown"
        if state != "review":
            raise ApprovalError(f"withdrawal {withdrawal_id} is {state}: only a withdrawal "
                                "held for review is approved",
                                says=msg("error.withdrawal_not_in_review", id=withdrawal_id,
                                         state=msg(f"wd.state.{state}")
                                         if row is not None else msg("error.none")))
        view = self.custody.record_approval(proposal.id, approver, signature)
        if view.state == "approved":
            u.screening.set_state(withdrawal_id, ("review",), "approved")
            u.custody.set_state(proposal.id, "approved", "executed")
        return self._view(proposal.id)

    def _reset(self, u: Unit, proposal: Proposal, approver: str,
               signature: str) -> ProposalView:
        scope = str(proposal.payload["scope"])
        if scope not in u.screening.tripped():
            raise ApprovalError(f"the {scope} breaker is not tripped: {proposal.id} has "
                                "nothing to reset",
                                says=msg("error.breaker_not_tripped", scope=scope,
                                         id=proposal.id))
        view = self.custody.record_approval(proposal.id, approver, signature)
        if view.state == "approved":
            now = self.clock.now()
            by = ",".join(a.approver for a in view.approvals)
            u.screening.breaker_event(scope, "reset", now, by,
                                      msg("breaker.reason.quorum", proposal=proposal.id))
            for incident in incidents_for(self.store, scope):
                record(self.store, incident, now, "breaker", by,
                       msg("timeline.breaker.reset", scope=scope_word(scope),
                           proposal=proposal.id))
            u.custody.set_state(proposal.id, "approved", "executed")
        return self._view(proposal.id)

    def _view(self, proposal_id: str) -> ProposalView:
        view = self.custody.proposal(proposal_id)
        assert view is not None
        return view
