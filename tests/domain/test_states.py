"""The states and kinds declared once (kinko.domain.states, kinko.domain.watch) agree with
the tables that keep them, and a caller's word is checked against them."""

from __future__ import annotations

from typing import get_args

import pytest
from sqlalchemy import Column, String

from kinko.domain.states import (
    ACTIVE_INCIDENT_STATES,
    ALERT_STATES,
    COUNTED_WITHDRAWAL_STATES,
    IN_FLIGHT_WITHDRAWAL_STATES,
    INCIDENT_MOVES,
    INCIDENT_STATES,
    OPEN_WITHDRAWAL_STATES,
    PROPOSAL_STATES,
    SENDABLE_WITHDRAWAL_STATES,
    WITHDRAWAL_STATES,
    WithdrawalState,
    one_of,
)
from kinko.domain.watch import ALERT_KINDS
from kinko.domain.watch_state import FindingKind
from kinko.errors import BadInput
from kinko.store import schema


def width(column: Column[str]) -> int:
    assert isinstance(column.type, String) and column.type.length is not None
    return column.type.length


@pytest.mark.parametrize(("column", "values"), [
    (schema.withdrawals.c.state, WITHDRAWAL_STATES),
    (schema.proposals.c.state, PROPOSAL_STATES),
    (schema.alerts.c.state, ALERT_STATES),
    (schema.alerts.c.kind, ALERT_KINDS),
    (schema.incidents.c.state, INCIDENT_STATES),
], ids=["withdrawals.state", "proposals.state", "alerts.state", "alerts.kind",
        "incidents.state"])
def test_every_declared_word_fits_the_column_that_keeps_it(
        column: Column[str], values: tuple[str, ...]) -> None:
    assert values and len(set(values)) == len(values)
    too_long = [v for v in values if len(v) > width(column)]
    assert not too_long, f"{column} is String({width(column)}): {too_long} do not fit"


def test_the_named_sets_are_made_of_declared_states() -> None:
    for subset in (OPEN_WITHDRAWAL_STATES, SENDABLE_WITHDRAWAL_STATES,
                   IN_FLIGHT_WITHDRAWAL_STATES, COUNTED_WITHDRAWAL_STATES):
        assert set(subset) <= set(WITHDRAWAL_STATES)
    assert get_args(WithdrawalState) == WITHDRAWAL_STATES
    assert set(ACTIVE_INCIDENT_STATES) <= set(INCIDENT_STATES)
    assert set(INCIDENT_MOVES) == set(INCIDENT_STATES)
    assert all(set(to) <= set(INCIDENT_STATES) for to in INCIDENT_MOVES.values())
    # what the watch finds becomes an alert of a declared kind (a hidden outflow: a theft)
    assert {k for k in get_args(FindingKind) if k != "hidden_outflow"} <= set(ALERT_KINDS)


def test_a_callers_word_is_one_of_the_declared_states_or_refused_naming_them() -> None:
    assert one_of("sent", WITHDRAWAL_STATES, "state") == "sent"
    with pytest.raises(BadInput) as refused:
        one_of("Sent", WITHDRAWAL_STATES, "withdrawal state")
    assert refused.value.message == (
        "withdrawal state must be one of review, allowed, approved, sending, sent, "
        "confirmed, failed, blocked, rejected, expired, not 'Sent'")
