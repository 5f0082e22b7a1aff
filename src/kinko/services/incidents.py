"""Alerts and incidents for the people on duty: list, show, acknowledge, write down.

The watch raises alerts and opens incidents (:mod:`kinko.services.watch`); this module is
what operators do with them, and needs no chain node. Acknowledging an alert records who
and when, and adds a line to its incident's timeline; it does not reset any breaker (that
takes the quorum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kinko.errors import BadInput
from kinko.ports import Clock, Store

__all__ = ["IncidentView", "Incidents"]


@dataclass(frozen=True)
class IncidentView:
    incident: dict[str, Any]
    alerts: list[dict[str, Any]]
    timeline: list[dict[str, Any]]


class Incidents:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def alerts(self, state: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        if state is not None and state not in ("open", "acked"):
            raise BadInput(f"alert state must be open or acked, not {state!r}")
        with self.store.watch(write=False) as tables:
            return tables.alerts(state=state, limit=limit)

    def alert(self, alert_id: str) -> dict[str, Any]:
        with self.store.watch(write=False) as tables:
            row = tables.alert(alert_id)
        if row is None:
            raise BadInput(f"unknown alert {alert_id!r}", alert=alert_id)
        return row

    def ack(self, alert_id: str, by: str, note: str = "") -> dict[str, Any]:
        if not by.strip():
            raise BadInput("say who acknowledges the alert (--by NAME)")
        now = self.clock.now()
        with self.store.watch() as tables:
            row = tables.alert(alert_id)
            if row is None:
                raise BadInput(f"unknown alert {alert_id!r}", alert=alert_id)
            if row["state"] == "acked":
                raise BadInput(f"alert {alert_id} was acknowledged by {row['acked_by']} "
                               "already")
            tables.update_alert(alert_id, state="acked", acked_by=by.strip(), acked=now)
            if row["incident"]:
                tables.add_event(row["incident"], now, "ack", by.strip(),
                                 f"{alert_id} acknowledged" + (f": {note}" if note else ""))
        return self.alert(alert_id)

    def incidents(self, state: str | None = None) -> list[dict[str, Any]]:
        with self.store.watch(write=False) as tables:
            return tables.incidents(state)

    def incident(self, incident_id: str) -> IncidentView:
        with self.store.watch(write=False) as tables:
            row = tables.incident(incident_id)
            if row is None:
                raise BadInput(f"unknown incident {incident_id!r}", incident=incident_id)
            alerts = [a for a in tables.alerts() if a["incident"] == incident_id]
            events = tables.events(incident_id)
        return IncidentView(row, alerts, events)

    def note(self, incident_id: str, by: str, text: str) -> None:
        """A free-text line in the timeline, by an operator."""
        if not text.strip() or not by.strip():
            raise BadInput("a note needs a text and its author (--by NAME)")
        self.incident(incident_id)
        with self.store.watch() as tables:
            tables.add_event(incident_id, self.clock.now(), "note", by.strip(), text.strip())
