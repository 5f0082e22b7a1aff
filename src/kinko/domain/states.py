"""The states a withdrawal, a proposal, an alert and an incident can be in, declared once.

Each is a ``Literal`` type (what mypy checks where a state is written) and a tuple derived
from it (what code checks a caller's string against, and what pages offer in their
filters), in the order of the thing's life. The database keeps the same words in ``state``
columns wide enough for the longest (``tests/contract/test_declared_states.py``). Alert
kinds are declared with the alerts (:mod:`kinko.domain.watch`), trace policies with the
trace (:mod:`kinko.domain.trace.model`)::

    >>> "review" in WITHDRAWAL_STATES, "sending" in OPEN_WITHDRAWAL_STATES
    (True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, TypeVar, get_args

from kinko.domain.messages import Message, msg
from kinko.errors import BadInput

__all__ = [
    "ACTIVE_INCIDENT_STATES",
    "ALERT_STATES",
    "COUNTED_WITHDRAWAL_STATES",
    "INCIDENT_MOVES",
    "INCIDENT_STATES",
    "IN_FLIGHT_WITHDRAWAL_STATES",
    "OPEN_WITHDRAWAL_STATES",
    "PROPOSAL_STATES",
    "SENDABLE_WITHDRAWAL_STATES",
    "WITHDRAWAL_STATES",
    "AlertState",
    "IncidentState",
    "ProposalState",
    "WithdrawalState",
    "one_of",
]

S = TypeVar("S", bound=str)

WithdrawalState = Literal["review", "allowed", "approved", "sending", "sent", "confirmed",
                          "failed", "blocked", "rejected", "expired"]
# every state a withdrawal can be in, in the order of its life
WITHDRAWAL_STATES: tuple[WithdrawalState, ...] = get_args(WithdrawalState)
# held for the customer and not yet signed: may be rejected, expire, or be sent
OPEN_WITHDRAWAL_STATES: tuple[WithdrawalState, ...] = ("allowed", "review", "approved")
# screened or approved: what kinko may sign and send
SENDABLE_WITHDRAWAL_STATES: tuple[WithdrawalState, ...] = ("allowed", "approved")
# signed: the chain may have it (sending: recorded, broadcast maybe not yet)
IN_FLIGHT_WITHDRAWAL_STATES: tuple[WithdrawalState, ...] = ("sending", "sent")
# what screening's window sums count: not blocked, rejected, expired or failed (a reverted
# transaction moved nothing)
COUNTED_WITHDRAWAL_STATES: tuple[WithdrawalState, ...] = (
    "allowed", "review", "approved", "sending", "sent", "confirmed")

ProposalState = Literal["pending", "approved", "requested", "sending", "sent", "executed",
                        "failed", "rejected", "expired"]
# every state a proposal (a withdrawal's review, a sweep, a refill, a breaker reset, a
# policy ...) can be in, in the order of its life
PROPOSAL_STATES: tuple[ProposalState, ...] = get_args(ProposalState)

AlertState = Literal["open", "acked"]
ALERT_STATES: tuple[AlertState, ...] = get_args(AlertState)

IncidentState = Literal["open", "contained", "resolved"]
INCIDENT_STATES: tuple[IncidentState, ...] = get_args(IncidentState)
# where an incident may move from each state (a resolved one may be opened again)
INCIDENT_MOVES: Mapping[IncidentState, tuple[IncidentState, ...]] = MappingProxyType({
    "open": ("contained", "resolved"), "contained": ("open", "resolved"),
    "resolved": ("open",)})
# still being handled: its breaker holds, its leaked key pays nothing
ACTIVE_INCIDENT_STATES: tuple[IncidentState, ...] = ("open", "contained")


def one_of(value: str, states: tuple[S, ...], what: str) -> S:
    """``value`` as one of the declared ``states`` (typed as such), or a :class:`BadInput`
    naming ``what`` and every state it may be::

        >>> one_of("acked", ALERT_STATES, "alert state")
        'acked'
    """
    for state in states:
        if state == value:
            return state
    raise BadInput(f"{what} must be one of {', '.join(states)}, not {value!r}",
                   says=msg("error.state.not_one_of", what=_what_said(what),
                            states=", ".join(states), value=str(value)[:80]))


# what :func:`one_of` is asked to name, as catalog messages
_WHAT = {"state": msg("error.state.what.state"),
         "alert state": msg("error.state.what.alert_state"),
         "alert kind": msg("error.state.what.alert_kind"),
         "incident state": msg("error.state.what.incident_state"),
         "proposal state": msg("error.state.what.proposal_state"),
         "withdrawal state": msg("error.state.what.withdrawal_state")}


def _what_said(what: str) -> Message | str:
    """``what`` as a catalog message (as it is, cut, when it has none)."""
    return _WHAT.get(what) or what[:80]
