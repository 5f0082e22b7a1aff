"""Is the watch alive? Its heartbeat, read back.

``kinko watch`` writes one row per chain every round (:meth:`Watch.poll`): when the round
ended, the block it had read up to and the node's head then. A watch that stops writing is
as dangerous as none (a dead watcher is how a theft goes unnoticed for hours), so the
overview and ``kinko check`` raise the alarm when the last round is older than
``watch_silence_seconds``::

    for beat in watch_health(store, clock, silence=60):
        beat.state        # "running" or "silent"
        beat.lag          # blocks behind the node's head, in the last round

A database with online wallets and no heartbeat at all has never been watched: a finding
too (a warning: a watch may simply not have been started yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kinko.domain.custody import CustodyFinding
from kinko.domain.messages import Time, msg
from kinko.ports import Clock, Store

__all__ = ["Heartbeat", "watch_findings", "watch_health"]


@dataclass(frozen=True)
class Heartbeat:
    chain: str
    last_round: datetime
    started: datetime
    rounds: int
    last_block: int | None
    node_head: int | None
    interval_ms: int
    state: str  # running, silent

    @property
    def lag(self) -> int | None:
        """Blocks between the node's head and what the watch had read, in its last round."""
        if self.node_head is None or self.last_block is None:
            return None
        return max(0, self.node_head - self.last_block)

    @property
    def silent(self) -> bool:
        return self.state == "silent"


def watch_health(store: Store, clock: Clock, *, silence: int) -> list[Heartbeat]:
    """Every chain's heartbeat; ``silence`` seconds without a round make it silent."""
    now = clock.now()
    with store.watch(write=False) as tables:
        rows = tables.heartbeats()
    out = []
    for r in rows:
        quiet = now - r["round"] > timedelta(seconds=silence)
        out.append(Heartbeat(r["chain"], r["round"], r["started"], int(r["rounds"]),
                             r["last_block"], r["node_head"], int(r["interval_ms"]),
                             "silent" if quiet else "running"))
    return out


def watch_findings(store: Store, clock: Clock, *, silence: int,
                   watched: bool) -> list[CustodyFinding]:
    """Findings for ``kinko check`` and the overview: a silent watch is critical; none at
    all, while the exchange has online wallets (``watched``), a warning."""
    beats = watch_health(store, clock, silence=silence)
    out = [CustodyFinding("watch_silent", "critical", None,
                          msg("finding.watch_silent", chain=b.chain, since=Time(b.last_round),
                              seconds=silence))
           for b in beats if b.silent]
    if not beats and watched:
        out.append(CustodyFinding("watch_never", "warning", None, msg("finding.watch_never")))
    return out
