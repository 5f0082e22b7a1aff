"""Writing to an incident's timeline from anywhere a service acts on it.

The watch, the quorum, the sweep, a trace and the webhook all add to the timeline of the
incident they concern; :func:`record` is the one way they do, and :func:`incidents_for`
finds the open incidents an asset's event belongs to (a breaker reset concerns every open
incident of that asset, ``*`` every open incident).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kinko.domain.messages import Message, msg
from kinko.domain.states import ACTIVE_INCIDENT_STATES
from kinko.ports import Store

__all__ = ["active_incidents", "incidents_for", "record", "scope_word"]


def record(store: Store, incident: str, at: datetime, kind: str, actor: str,
           detail: Message) -> None:
    """Add an entry (a :class:`~kinko.domain.messages.Message`, never a sentence) to an
    incident's timeline, if the incident exists."""
    with store.watch() as tables:
        if tables.incident(incident) is not None:
            tables.add_event(incident, at, kind, actor, detail)


def active_incidents(store: Store) -> list[dict[str, Any]]:
    """The incidents still being handled: open or contained (read again when any
    process changes an incident)."""
    found = store.cached("incidents", lambda u: tuple(
        [row for state in ACTIVE_INCIDENT_STATES for row in u.watch.incidents(state)]))
    return [dict(row) for row in found]


def incidents_for(store: Store, scope: str) -> list[str]:
    """Open or contained incidents of an asset (``*``: all of them)."""
    return [r["id"] for r in active_incidents(store) if scope == "*" or r["asset"] == scope]


def scope_word(scope: str) -> Message | str:
    """A breaker's scope for people: an asset's symbol, or every asset (``*``)."""
    return msg("brk.all") if scope == "*" else scope
