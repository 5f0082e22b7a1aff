"""Alerts and incidents for the people on duty: list, show, acknowledge, write down, move
an incident along, and book what was lost.

The watch raises alerts and opens incidents (:mod:`kinko.services.watch`); this module is
what operators do with them, and needs no chain node. Acknowledging an alert records who
and when, and adds a line to its incident's timeline; it does not reset any breaker (that
takes the quorum).

An incident moves ``open`` → ``contained`` (the outflow is stopped: breaker tripped, what was
left swept) → ``resolved`` (customers made whole, report filed); it may be reopened. Every
move is a timeline entry with who and why. The timeline gathers itself: alerts and breaker
trips (the watch), breaker resets and approvals of the emergency sweep (the quorum), the
sweep sent and booked, traces run for it, notices delivered, and operators' notes.

**Losses.** :meth:`Incidents.record_losses` books every final theft of an incident in the
ledger: ``loss:<incident>`` debited, the wallet credited, once per theft (the key is the
alert's), so the wallet's ledger balance matches the chain again while the customers are
still owed in full (their balances are untouched): the shortfall per asset is visible in
every report until refunds settle it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kinko.domain.ledger import Posting
from kinko.domain.messages import N_, Message, Units, id_shown, msg, value_shown, verbatim
from kinko.domain.money import format_units
from kinko.domain.states import ALERT_STATES, INCIDENT_MOVES, INCIDENT_STATES, one_of
from kinko.domain.watch import ALERT_KINDS
from kinko.errors import BadInput, Overdraft
from kinko.ports import AlertRow, Clock, IncidentRow, Store, TimelineRow
from kinko.services.access import Access

__all__ = ["IncidentView", "Incidents", "LossReport"]


@dataclass(frozen=True)
class LossReport:
    incident: str
    booked: dict[str, int]  # asset → minor units booked by this call
    total: dict[str, int]  # asset → the incident's loss as booked in the ledger
    pending: int  # theft alerts not final yet (booked once they are)


@dataclass(frozen=True)
class IncidentView:
    incident: IncidentRow
    alerts: list[AlertRow]
    timeline: list[TimelineRow]


class Incidents:
    def __init__(self, store: Store, clock: Clock, ledger: Any = None) -> None:
        self.store = store
        self.clock = clock
        self.ledger = ledger  # a kinko.services.ledger.Ledger, for booking losses

    def alerts(self, state: str | None = None, limit: int = 1000, *, kind: str | None = None,
               offset: int = 0, newest_first: bool = False) -> list[AlertRow]:
        """Alerts, oldest first (or newest first), ``limit`` of them after ``offset``."""
        chosen = None if state is None else one_of(state, ALERT_STATES, "alert state")
        of_kind = None if kind is None else one_of(kind, ALERT_KINDS, "alert kind")
        if offset < 0 or limit < 1:
            raise BadInput("a page of alerts starts at 0 and has at least one row",
                           says=msg("error.incident.alert_page"))
        with self.store.watch(write=False) as tables:
            return tables.alerts(state=chosen, kind=of_kind, limit=limit, offset=offset,
                                 newest_first=newest_first)

    def alert(self, alert_id: str) -> AlertRow:
        with self.store.watch(write=False) as tables:
            row = tables.alert(alert_id)
        if row is None:
            shown = id_shown(alert_id)
            raise BadInput(f"unknown alert {shown!r}", alert=shown,
                           says=msg("error.unknown_alert", id=shown))
        return row

    def ack(self, alert_id: str, by: str, note: str = "", *, actor: str | None = None
            ) -> AlertRow:
        """Acknowledge an alert: recorded in the audit log (``alert.ack``, with the note,
        under ``actor``: by default ``by``) and, with the note, on the timeline of the
        alert's incident if it has one."""
        if not by.strip():
            raise BadInput("say who acknowledges the alert",
                           says=msg("error.incident.ack_by"))
        now = self.clock.now()
        with self.store.watch() as tables:
            row = tables.alert(alert_id)
            if row is None:
                shown = id_shown(alert_id)
                raise BadInput(f"unknown alert {shown!r}", alert=shown,
                               says=msg("error.unknown_alert", id=shown))
            if row["state"] == "acked":
                raise BadInput(f"alert {alert_id} was acknowledged by {row['acked_by']} "
                               "already", says=msg("error.alert_acked", id=alert_id[:80],
                                                   by=str(row["acked_by"])[:200]))
            tables.update_alert(alert_id, state="acked", acked_by=by.strip(), acked=now)
            self._audit(actor or by, "alert.ack", alert_id, {"note": note.strip()})
            if row["incident"]:
                tables.add_event(row["incident"], now, "ack", by.strip(), msg(
                    N_("timeline.ack.note") if note.strip() else N_("timeline.ack"), alert=alert_id,
                    note=note.strip()))
        return self.alert(alert_id)

    def incidents(self, state: str | None = None) -> list[IncidentRow]:
        with self.store.watch(write=False) as tables:
            return tables.incidents(
                None if state is None else one_of(state, INCIDENT_STATES, "incident state"))

    def incident(self, incident_id: str) -> IncidentView:
        with self.store.watch(write=False) as tables:
            row = tables.incident(incident_id)
            if row is None:
                shown = id_shown(incident_id)
                raise BadInput(f"unknown incident {shown!r}", incident=shown,
                               says=msg("error.unknown_incident", id=shown))
            alerts = tables.alerts(incident=incident_id, limit=None)
            events = tables.events(incident_id)
        return IncidentView(row, alerts, events)

    def note(self, incident_id: str, by: str, text: str, *, actor: str | None = None
             ) -> None:
        """A free-text line in the timeline, by an operator; recorded in the audit log
        (``incident.note``, under ``actor``: by default ``by``)."""
        if not text.strip() or not by.strip():
            raise BadInput("a note needs a text and its author",
                           says=msg("error.incident.note_needs"))
        self.incident(incident_id)
        with self.store.watch() as tables:
            tables.add_event(incident_id, self.clock.now(), "note", by.strip(),
                             verbatim(text.strip()))
            self._audit(actor or by, "incident.note", incident_id, {"text": text.strip()})

    def _audit(self, actor: str, action: str, target: str, detail: dict[str, object]) -> None:
        """An operator's act on an incident or an alert (``target``) in the audit log, in
        the act's unit of work."""
        Access(self.store, self.clock).audit(actor.strip(), action, target, detail)

    def open(self, title: str | Message, by: str, *, asset: str | None = None,
             wallet: str | None = None, actor: str | None = None) -> str:
        """Open an incident by hand (one the watch could not see: a phishing report, a
        leaked key found in a repository); a title a person typed is kept as written, or
        the title is a catalog message. Recorded in the audit log (``incident.open``,
        under ``actor``: by default ``by``)."""
        if isinstance(title, str):
            title = verbatim(title.strip())
        if (title.is_text and not str(title.params.get("text", "")).strip()) \
                or not by.strip():
            raise BadInput("an incident needs a title and who opens it",
                           says=msg("error.incident.open_needs"))
        now = self.clock.now()
        with self.store.watch() as tables:
            incident = tables.put_incident({"state": "open", "title": title,
                                            "asset": asset, "wallet": wallet, "opened": now,
                                            "closed": None})
            tables.add_event(incident, now, "opened", by.strip(),
                             msg("timeline.opened.by_hand", title=title))
            self._audit(actor or by, "incident.open", incident,
                        {"title": str(title.params.get("text", "")) if title.is_text
                         else title.id, "asset": asset, "wallet": wallet})
        return incident

    def escalate(self, alert_ids: Sequence[str], by: str, *, wallet: str,
                 asset: str | None = None, incident: str | None = None) -> str:
        """An incident for alerts raised outside the watch (the co-signer's refusals land
        in the alerts table on no incident), opened by the first; each alert is attached
        and written on its timeline (or they join ``incident``, one the watch opened).
        Returns the incident. A new one names ``wallet`` in its title
        but does not mark the wallet's key as leaked (that holds every withdrawal from it,
        see :mod:`kinko.services.containment`): refused attempts moved nothing, and whether
        to rotate a key is the operators' call."""
        if not alert_ids or not by.strip():
            raise BadInput("escalating needs at least one alert and who does it",
                           says=msg("error.incident.escalate_needs"))
        now = self.clock.now()
        with self.store.watch() as tables:
            rows = []
            for alert_id in alert_ids:
                row = tables.alert(alert_id)
                if row is None:
                    raise BadInput(f"unknown alert {alert_id!r}", alert=alert_id,
                                   says=msg("error.unknown_alert", id=alert_id[:80]))
                if row["incident"]:
                    raise BadInput(f"alert {alert_id} is on incident {row['incident']} "
                                   "already", alert=alert_id,
                                   says=msg("error.incident.alert_on_incident",
                                            id=alert_id[:80], incident=str(row["incident"])))
                rows.append(row)
            if incident is None:
                incident = tables.put_incident({
                    "state": "open", "title": msg("incident.title.refused", wallet=wallet),
                    "asset": asset, "wallet": None, "opened": now, "closed": None})
                tables.add_event(incident, now, "opened", by.strip(),
                                 msg("timeline.opened.by_alert", alert=rows[0]["id"]))
            elif tables.incident(incident) is None:
                raise BadInput(f"unknown incident {incident!r}", incident=incident,
                               says=msg("error.unknown_incident", id=incident[:80]))
            for row in rows:
                tables.update_alert(row["id"], incident=incident)
                tables.add_event(incident, now, "alert", by.strip(),
                                 msg("timeline.alert", alert=row["id"], detail=row["detail"]))
        return incident

    def chain_refused(self, incident_id: str, tx_hash: str, block: int | None, to: str,
                      code: str, by: str) -> None:
        """Write on the timeline a transaction the chain mined and refused (reverted):
        an attempt that moved nothing, with the contract's error code."""
        self.incident(incident_id)
        with self.store.watch() as tables:
            tables.add_event(incident_id, self.clock.now(), "chain", by.strip(), msg(
                "timeline.chain.refused", tx=tx_hash, block=str(block), to=to,
                code=code or "—"))

    def move(self, incident_id: str, state: str, by: str, reason: str, *,
             actor: str | None = None) -> IncidentRow:
        """open → contained → resolved (or back to open), with who and why; recorded in the
        audit log (``incident.move``, under ``actor``: by default ``by``)."""
        if not by.strip() or not reason.strip():
            raise BadInput("say who moves the incident and why",
                           says=msg("error.incident.move_needs"))
        now = self.clock.now()
        with self.store.watch() as tables:
            row = tables.incident(incident_id)
            if row is None:
                raise BadInput(f"unknown incident {incident_id!r}", incident=incident_id,
                               says=msg("error.unknown_incident", id=incident_id[:80]))
            new = next((m for m in INCIDENT_MOVES.get(row["state"], ()) if m == state), None)
            if new is None:
                raise BadInput(f"incident {incident_id} is {row['state']}: it can move to "
                               f"{' or '.join(INCIDENT_MOVES[row['state']])}, not {state!r}",
                               says=msg("error.incident_cannot_move", id=incident_id[:80],
                                        state=msg(f"inc.state.{row['state']}"),
                                        to=_either(INCIDENT_MOVES[row["state"]]),
                                        asked=value_shown(state)))
            tables.update_incident(incident_id, state=new,
                                   closed=now if new == "resolved" else None)
            tables.add_event(incident_id, now, "state", by.strip(), msg(
                "timeline.state", before=msg(f"inc.state.{row['state']}"),
                after=msg(f"inc.state.{state}"), reason=reason.strip()))
            self._audit(actor or by, "incident.move", incident_id,
                        {"from": row["state"], "to": new, "reason": reason.strip()})
        return self.incident(incident_id).incident

    def _show(self, units: int, asset: str) -> str:
        """An amount as people read it (whole units, exactly), for error messages."""
        known = self.ledger.assets.get(asset) if self.ledger is not None else None
        if known is None:
            return f"{units} minor units of {asset}"
        return f"{format_units(units, known, group=True)} {asset}"

    def _units(self, units: int, asset: str) -> Units:
        """An amount for a message (minor units when the asset is not known)."""
        known = self.ledger.assets.get(asset) if self.ledger is not None else None
        return Units(units, asset, known.decimals if known is not None else 0)

    def record_losses(self, incident_id: str, by: str, *,
                      actor: str | None = None) -> LossReport:
        """Book the incident's final thefts as losses (idempotent; see the module); what
        was booked now is in the audit log (``incident.loss``, under ``actor``: by default
        ``by``)."""
        if self.ledger is None:
            raise BadInput("booking losses needs the ledger",
                           says=msg("error.incident.no_ledger"))
        view = self.incident(incident_id)
        account = f"loss:{incident_id}"
        booked: dict[str, int] = {}
        pending = 0
        for alert in view.alerts:
            if alert["kind"] != "theft" or not alert["amount"]:
                continue
            if alert["chain_state"] != "final":
                pending += 1
                continue
            asset, wallet = alert["asset"], alert["wallet"]
            if asset is None or wallet is None:  # a theft names both (domain.watch)
                continue
            if self._book(incident_id, f"loss:{alert['key']}", asset, wallet,
                          int(alert["amount"]), f"tx:{alert['tx_hash']}",
                          f"theft {alert['id']} of incident {incident_id}"):
                booked[asset] = booked.get(asset, 0) + int(alert["amount"])
        if booked:
            with self.store.watch() as tables:
                for asset, units in sorted(booked.items()):
                    tables.add_event(incident_id, self.clock.now(), "loss",
                                     by.strip() or "kinko", msg(
                                         "timeline.loss.booked", account=account,
                                         amount=self._units(units, asset)))
            self._audit(actor or by, "incident.loss", incident_id,
                        {"account": account,
                         "booked": {a: str(u) for a, u in sorted(booked.items())}})
        total = self.losses(incident_id)  # as booked, refunds since or not
        return LossReport(incident_id, booked, total, pending)

    def losses(self, incident_id: str) -> dict[str, int]:
        """What the ledger booked as this incident's loss: asset → minor units, everything
        debited to ``loss:<incident>`` (refunds that settled it since do not make it less;
        empty without a ledger or before any loss is booked)."""
        if self.ledger is None:
            return {}
        booked: dict[str, int] = self.ledger.debits(f"loss:{incident_id}")
        return booked

    def book_loss(self, incident_id: str, asset: str, wallet: str, amount: int, *,
                  source: str, by: str, actor: str | None = None) -> bool:
        """Book a loss found another way (no alert: the theft was found by people, or on a
        chain kinko does not watch); once per incident, asset and wallet. True if booked now
        (then in the audit log too: ``incident.loss``, under ``actor``, by default ``by``)."""
        if self.ledger is None:
            raise BadInput("booking losses needs the ledger",
                           says=msg("error.incident.no_ledger"))
        self.incident(incident_id)
        if amount <= 0:
            raise BadInput(f"a loss must be positive, not {amount}",
                           says=msg("error.incident.loss_not_positive", amount=int(amount)))
        booked = self._book(incident_id, f"loss:{incident_id}:{asset}:{wallet}", asset, wallet,
                            amount, source, f"loss of incident {incident_id} recorded by {by}")
        if booked:
            with self.store.watch() as tables:
                tables.add_event(incident_id, self.clock.now(), "loss", by, msg(
                    "timeline.loss.recorded", amount=self._units(amount, asset),
                    wallet=wallet, account=f"loss:{incident_id}", source=source))
            self._audit(actor or by, "incident.loss", incident_id,
                        {"account": f"loss:{incident_id}", "booked": {asset: str(amount)},
                         "wallet": wallet, "source": source})
        return booked

    def _book(self, incident_id: str, key: str, asset: str, wallet: str, amount: int,
              source: str, memo: str) -> bool:
        assert self.ledger is not None
        try:
            result = self.ledger.post(key, [Posting(f"loss:{incident_id}", asset, amount),
                                            Posting(f"wallet:{wallet}", asset, -amount)],
                                      source=source, memo=memo)
        except Overdraft:
            # the wallet's remaining balance is reserved by withdrawals awaiting review or
            # sending: the ledger keeps those reservations whole, so they go first
            raise BadInput(
                f"cannot book the loss of {self._show(amount, asset)} from {wallet}: what "
                "is left there is reserved for withdrawals held or approved; reject them "
                "(kinko withdrawals reject ID --by NAME) and book the loss again",
                wallet=wallet, says=msg("error.incident.loss_reserved",
                                        amount=self._units(amount, asset),
                                        wallet=wallet[:200])) from None
        return not result.replayed


def _either(states: tuple[str, ...]) -> Message:
    """One or two incident states, as words of the catalog ("contained or resolved")."""
    words = [msg(f"inc.state.{s}") for s in states]
    if len(words) == 1:
        return words[0]
    return msg("error.either", a=words[0], b=words[1])
