"""The operators' overview: custody per asset, breaker, incidents, alerts and queues, from
one read of each service; and a cheap stamp that changes whenever any of it may have.

The dashboard's live view polls :func:`stamp` (a handful of counts in one query) and
rebuilds the :class:`Overview` only when the stamp moved, so a theft alarm written by the
watch process reaches every open overview within one poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kinko.domain.report import CustodyReport
from kinko.ports import Store
from kinko.services.custody import custody_report
from kinko.services.withdrawals import Withdrawals

__all__ = ["Overview", "overview", "stamp", "stamp_text"]


@dataclass(frozen=True)
class Overview:
    at: datetime
    custody: CustodyReport
    tripped: dict[str, dict[str, Any]]  # scope -> who tripped it, when, why
    incidents: list[dict[str, Any]]  # open and contained, newest first
    alerts: list[dict[str, Any]]  # the newest, any state
    open_alerts: int
    withdrawals: dict[str, int]  # state -> count
    pending_proposals: int

    def findings_of(self, asset: str | None) -> list[Any]:
        """The custody findings about ``asset`` (None: about all assets together)."""
        return [f for f in self.custody.findings if f.asset == asset]


def stamp(store: Store) -> tuple[int, ...]:
    with store.watch(write=False) as tables:
        return tables.change_stamp()


def stamp_text(value: tuple[int, ...]) -> str:
    """The stamp as a page carries it (``since=`` of its live feed)."""
    return ".".join(str(v) for v in value)


def overview(withdrawals: Withdrawals, *, alerts: int = 10) -> Overview:
    custody = withdrawals.custody
    report = custody_report(custody, reconcile=False)
    store = custody.ledger.store
    with store.watch(write=False) as tables:
        latest = tables.alerts(limit=alerts, newest_first=True)
        open_alerts = tables.count_alerts("open")
        active = [i for i in tables.incidents() if i["state"] in ("open", "contained")]
    with store.screening(write=False) as screening:
        counts = screening.withdrawal_counts()
    return Overview(
        at=custody.clock.now(), custody=report, tripped=withdrawals.breaker(),
        incidents=sorted(active, key=lambda i: i["opened"], reverse=True),
        alerts=latest, open_alerts=open_alerts, withdrawals=counts,
        pending_proposals=len(report.pending))
