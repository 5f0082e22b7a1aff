"""The operators' overview: custody per asset, breaker, incidents, alerts and queues, the
watch's heartbeat, from one read of each service; and a cheap stamp that changes whenever
any of it may have.

The incident comes first: while a theft incident is open or contained, every asset whose
wallet's key leaked is marked with it (:meth:`Overview.incidents_of`), so no view says an
asset is "within policy" while it is being stolen from. A watch that stopped writing its
heartbeat is an alarm of its own.

The dashboard's live view polls :func:`stamp` (a handful of counts in one query, and
whether each watch is running) and rebuilds the :class:`Overview` only when the stamp moved,
so a theft alarm written by the watch process, or a watch going silent, reaches every open
overview within one poll.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kinko.domain.custody import CustodyFinding, Wallet, same_key
from kinko.domain.report import CustodyReport
from kinko.domain.states import ACTIVE_INCIDENT_STATES
from kinko.ports import AlertRow, BreakerEventRow, Clock, IncidentRow, Store
from kinko.services.custody import Custody, custody_report
from kinko.services.heartbeat import Heartbeat, watch_findings, watch_health
from kinko.services.withdrawals import Withdrawals

__all__ = ["Overview", "affected_assets", "overview", "stamp", "stamp_text"]


@dataclass(frozen=True)
class Overview:
    at: datetime
    custody: CustodyReport
    tripped: dict[str, BreakerEventRow]  # scope -> who tripped it, when, why
    incidents: list[IncidentRow]  # open and contained, newest first
    alerts: list[AlertRow]  # the newest, any state
    open_alerts: int
    withdrawals: dict[str, int]  # state -> count
    pending_proposals: int
    heartbeats: tuple[Heartbeat, ...] = ()
    watch: tuple[CustodyFinding, ...] = ()  # a silent watch, or none ever ran
    affected: dict[str, list[IncidentRow]] = field(default_factory=dict)

    def findings_of(self, asset: str | None) -> list[Any]:
        """The custody findings about ``asset`` (None: about all assets together)."""
        return [f for f in self.custody.findings if f.asset == asset]

    def incidents_of(self, asset: str) -> list[IncidentRow]:
        """The open or contained incidents in which a key of this asset's wallets leaked."""
        return self.affected.get(asset, [])

    @property
    def watch_state(self) -> str:
        """running, silent (an alarm) or never (no watch has run on this database)."""
        if any(b.silent for b in self.heartbeats):
            return "silent"
        return "running" if self.heartbeats else "never"


def stamp(store: Store, clock: Clock | None = None, silence: int = 60) -> tuple[int, ...]:
    """The change stamp; with a clock, also which watches are silent (so a watch that stops
    shows on the overview without anything else changing)."""
    with store.watch(write=False) as tables:
        counts = tables.change_stamp()
    if clock is None:
        return counts
    return (*counts, sum(1 for b in watch_health(store, clock, silence=silence) if b.silent))


def affected_assets(incidents: list[IncidentRow], wallets: list[Wallet]
                    ) -> dict[str, list[IncidentRow]]:
    """Asset → the active incidents that concern it: the incident's asset, and every asset
    of a wallet whose key is the leaked one (one key signs for all of them)."""
    out: dict[str, list[IncidentRow]] = {}
    for incident in incidents:
        asset = incident["asset"]
        assets = {asset} if asset else set()
        assets |= {w.asset for w in same_key(wallets, incident["wallet"])}
        for asset in sorted(assets):
            out.setdefault(asset, []).append(incident)
    return out


def active_incidents(custody: Custody) -> dict[str, list[IncidentRow]]:
    """Asset → its open or contained incidents (see :func:`affected_assets`), for every
    page that shows an asset: none of them may call an asset under theft "within policy"."""
    with custody.ledger.store.watch(write=False) as tables:
        active = [i for i in tables.incidents() if i["state"] in ACTIVE_INCIDENT_STATES]
    return affected_assets(active, custody.ledger.wallets())


def stamp_text(value: tuple[int, ...]) -> str:
    """The stamp as a page carries it (``since=`` of its live feed)."""
    return ".".join(str(v) for v in value)


def overview(withdrawals: Withdrawals, *, alerts: int = 10, silence: int = 60) -> Overview:
    custody = withdrawals.custody
    report = custody_report(custody, reconcile=False)
    store = custody.ledger.store
    wallets = custody.ledger.wallets()
    with store.watch(write=False) as tables:
        latest = tables.alerts(limit=alerts, newest_first=True)
        open_alerts = tables.count_alerts("open")
        active = [i for i in tables.incidents() if i["state"] in ACTIVE_INCIDENT_STATES]
    with store.screening(write=False) as screening:
        counts = screening.withdrawal_counts()
    online = any(w.tier != "cold" and w.addresses for w in wallets)
    return Overview(
        at=custody.clock.now(), custody=report, tripped=withdrawals.breaker(),
        incidents=sorted(active, key=lambda i: i["opened"], reverse=True),
        alerts=latest, open_alerts=open_alerts, withdrawals=counts,
        pending_proposals=len(report.pending),
        heartbeats=tuple(watch_health(store, custody.clock, silence=silence)),
        watch=tuple(watch_findings(store, custody.clock, silence=silence, watched=online)),
        affected=affected_assets(active, wallets))
