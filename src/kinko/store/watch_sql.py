"""The watch's tables in SQL: checkpoint, observations, alerts, incidents and their timeline,
the webhook outbox and balance samples.

Times are stored as integer microseconds (``*_us`` columns) and handed out as datetimes
without the suffix, as in the other table modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, Unpack, cast

from sqlalchemy import Connection, Table, delete, func, select, update

from kinko.domain.messages import Message, decode
from kinko.ports import (
    AlertChange,
    AlertRow,
    ArtifactChange,
    ArtifactRow,
    HeartbeatRow,
    IncidentChange,
    IncidentRow,
    NewAlert,
    NewIncident,
    NotificationChange,
    NotificationRow,
    ObservationChange,
    ObservationRow,
    SampleRow,
    SeenBlock,
    SignedMove,
    TimelineRow,
)
from kinko.store import schema as s
from kinko.store.stamps import untouched
from kinko.store.values import from_us, to_us

__all__ = ["SqlWatch"]


# the columns that keep a message for people (kinko.domain.messages), by table
MESSAGES = {"alerts": ("detail",), "incidents": ("title",), "timeline": ("detail",),
            "artifacts": ("title",)}


def _out(row: Any, table: Table | None = None) -> dict[str, Any]:
    """A row as a dict, ``x_us`` columns turned into datetimes named ``x``, messages
    decoded."""
    out: dict[str, Any] = {}
    for key, value in row._mapping.items():
        if key.endswith("_us"):
            out[key[:-3]] = None if value is None else from_us(value)
        else:
            out[key] = value
    for key in MESSAGES.get(table.name, ()) if table is not None else ():
        if key in out:
            out[key] = decode(out[key])
    return out


R = TypeVar("R")


def _row(kind: type[R], row: Any, table: Table) -> R:
    """A row of ``table`` as the port's row type ``kind``: its columns are the type's keys
    (``x_us`` read as ``x``, messages decoded); words such as a kind or a state hold what
    kinko (or the co-signer) wrote, declared words."""
    return cast(R, _out(row, table))


def _alert(row: Any) -> AlertRow:
    return _row(AlertRow, row, s.alerts)


def _incident(row: Any) -> IncidentRow:
    return _row(IncidentRow, row, s.incidents)


def _in(values: Mapping[str, Any], table: Table) -> dict[str, Any]:
    """The inverse of :func:`_out` for the columns ``table`` has."""
    out: dict[str, Any] = {}
    messages = MESSAGES.get(table.name, ())
    for key, value in values.items():
        if key + "_us" in table.c:
            out[key + "_us"] = None if value is None else to_us(value)
        elif key in messages:
            if not isinstance(value, Message):
                raise TypeError(f"{table.name}.{key} keeps a Message, not {value!r}")
            out[key] = value.to_json()
        else:
            out[key] = value
    return out


class SqlWatch:
    def __init__(self, conn: Connection, touch: Callable[[str], None] | None = None) -> None:
        self.conn = conn
        self._touch = touch or untouched  # a stamped table is written (SqlUnit.touch)

    # ------------------------------------------------------------------ checkpoint

    def last_block(self, chain: str) -> int | None:
        value = self.conn.execute(select(func.max(s.watch_blocks.c.number)).where(
            s.watch_blocks.c.chain == chain)).scalar()
        return None if value is None else int(value)

    def block_hash(self, chain: str, number: int) -> str | None:
        return self.conn.execute(select(s.watch_blocks.c.hash).where(
            s.watch_blocks.c.chain == chain, s.watch_blocks.c.number == number)).scalar()

    def put_blocks(self, chain: str, blocks: list[SeenBlock]) -> None:
        """(number, hash, timestamp) of blocks read, in one statement."""
        if blocks:
            self.conn.execute(s.watch_blocks.insert(), [
                {"chain": chain, "number": n, "hash": h, "ts": ts} for n, h, ts in blocks])

    def forget_blocks_after(self, chain: str, number: int) -> None:
        self.conn.execute(delete(s.watch_blocks).where(s.watch_blocks.c.chain == chain,
                                                       s.watch_blocks.c.number > number))

    def block_time(self, chain: str, number: int) -> int | None:
        """A block's own timestamp (seconds), as the watch read it."""
        value = self.conn.execute(select(s.watch_blocks.c.ts).where(
            s.watch_blocks.c.chain == chain, s.watch_blocks.c.number == number)).scalar()
        return None if value is None else int(value)

    # ------------------------------------------------------------------ heartbeat

    def beat(self, chain: str, at: datetime, *, started: datetime, last_block: int | None,
             node_head: int | None, interval_ms: int) -> None:
        """Record one round of the watch (one row per chain, replaced every round)."""
        values = {"round_us": to_us(at), "started_us": to_us(started),
                  "last_block": last_block, "node_head": node_head,
                  "interval_ms": interval_ms}
        done = self.conn.execute(update(s.watch_heartbeat).where(
            s.watch_heartbeat.c.chain == chain).values(
            rounds=s.watch_heartbeat.c.rounds + 1, **values))
        if done.rowcount == 0:
            self.conn.execute(s.watch_heartbeat.insert().values(chain=chain, rounds=1,
                                                                **values))

    def heartbeats(self) -> list[HeartbeatRow]:
        rows = self.conn.execute(select(s.watch_heartbeat).order_by(s.watch_heartbeat.c.chain))
        return [_row(HeartbeatRow, r, s.watch_heartbeat) for r in rows]

    # ------------------------------------------------------------------ observations

    def observation(self, obs_id: str) -> ObservationRow | None:
        row = self.conn.execute(select(s.observations).where(
            s.observations.c.id == obs_id)).first()
        return None if row is None else _row(ObservationRow, row, s.observations)

    def put_observation(self, row: ObservationRow) -> None:
        self.conn.execute(s.observations.insert().values(**_in(row, s.observations)))

    def update_observation(self, obs_id: str, **values: Unpack[ObservationChange]) -> None:
        self.conn.execute(update(s.observations).where(s.observations.c.id == obs_id)
                          .values(**_in(values, s.observations)))

    def observations(self, chain: str, *, status: tuple[str, ...] | None = None,
                     above: int | None = None) -> list[ObservationRow]:
        q = select(s.observations).where(s.observations.c.chain == chain)
        if status is not None:
            q = q.where(s.observations.c.status.in_(status))
        if above is not None:
            q = q.where(s.observations.c.block > above)
        return [_row(ObservationRow, r, s.observations) for r in self.conn.execute(
            q.order_by(s.observations.c.first_seen_us, s.observations.c.id))]

    def wallet_flows(self, wallet: str, after_block: int, to_block: int
                     ) -> list[ObservationRow]:
        rows = self.conn.execute(select(s.observations).where(
            s.observations.c.wallet == wallet, s.observations.c.block > after_block,
            s.observations.c.block <= to_block,
            s.observations.c.status.in_(("mined", "final"))))
        return [_row(ObservationRow, r, s.observations) for r in rows]

    def consumed(self, refs: list[str]) -> dict[str, str]:
        """Approved movements already seen on chain: ref → the transaction that used it
        (an observation not retracted by a reorganisation)."""
        out: dict[str, str] = {}
        for i in range(0, len(refs), 500):
            rows = self.conn.execute(select(s.observations.c.match_ref, s.observations.c.tx_hash)
                                     .where(s.observations.c.match_ref.in_(refs[i : i + 500]),
                                            s.observations.c.status != "retracted")
                                     .order_by(s.observations.c.first_seen_us))
            for ref, tx in rows:
                out.setdefault(str(ref), str(tx))
        return out

    # ------------------------------------------------------------------ signed moves

    def put_signed(self, row: SignedMove) -> None:
        """What kinko signed for an approved movement (``ref``), in the unit that records
        its hash before broadcast; a movement signed again (sent anew) keeps the last."""
        values = _in(row, s.signed_moves)
        self.conn.execute(delete(s.signed_moves).where(s.signed_moves.c.ref == row["ref"]))
        self.conn.execute(s.signed_moves.insert().values(**values))

    def signed(self, refs: list[str]) -> dict[str, SignedMove]:
        """What kinko signed for each of ``refs`` that it signed (ref → row)."""
        out: dict[str, SignedMove] = {}
        for i in range(0, len(refs), 500):
            for r in self.conn.execute(select(s.signed_moves).where(
                    s.signed_moves.c.ref.in_(refs[i : i + 500]))):
                row = _row(SignedMove, r, s.signed_moves)
                out[str(row["ref"])] = row
        return out

    def signed_safe_txs(self, safe_tx_hashes: list[str]) -> dict[str, SignedMove]:
        """The signed moves that are Safe executions of ``safe_tx_hashes`` (lower-case
        SafeTx hash → row)."""
        lowered = sorted({h.lower() for h in safe_tx_hashes})
        out: dict[str, SignedMove] = {}
        for i in range(0, len(lowered), 500):
            for r in self.conn.execute(select(s.signed_moves).where(
                    func.lower(s.signed_moves.c.safe_tx_hash).in_(lowered[i : i + 500]))):
                row = _row(SignedMove, r, s.signed_moves)
                out[str(row["safe_tx_hash"]).lower()] = row
        return out

    # ------------------------------------------------------------------ alerts

    def chain_alerts(self, chain: str, chain_states: tuple[str, ...]) -> list[AlertRow]:
        """The alerts about transactions or state of ``chain`` (their keys name it) in one of
        ``chain_states``."""
        rows = self.conn.execute(select(s.alerts).where(
            s.alerts.c.chain_state.in_(chain_states),
            s.alerts.c.key.like(f"%:{chain}:%")).order_by(s.alerts.c.raised_us))
        return [_alert(r) for r in rows]

    def alert_by_key(self, key: str) -> AlertRow | None:
        row = self.conn.execute(select(s.alerts).where(s.alerts.c.key == key)).first()
        return None if row is None else _alert(row)

    def alert(self, alert_id: str) -> AlertRow | None:
        row = self.conn.execute(select(s.alerts).where(s.alerts.c.id == alert_id)).first()
        return None if row is None else _alert(row)

    def alerts(self, *, state: str | None = None, kind: str | None = None,
               wallet: str | None = None, incident: str | None = None,
               limit: int | None = 1000, newest_first: bool = False,
               offset: int = 0) -> list[AlertRow]:
        q = select(s.alerts)
        if incident is not None:
            q = q.where(s.alerts.c.incident == incident)
        if state is not None:
            q = q.where(s.alerts.c.state == state)
        if kind is not None:
            q = q.where(s.alerts.c.kind == kind)
        if wallet is not None:
            q = q.where(s.alerts.c.wallet == wallet)
        q = q.order_by(s.alerts.c.raised_us.desc(), s.alerts.c.id.desc()) if newest_first \
            else q.order_by(s.alerts.c.raised_us, s.alerts.c.id)
        if limit is not None:
            q = q.limit(limit)
        if offset:
            q = q.offset(offset)
        return [_alert(r) for r in self.conn.execute(q)]

    def put_alert(self, row: NewAlert) -> str:
        """Insert an alert; its id is the next ``A-<n>``."""
        count = self.conn.execute(select(func.count()).select_from(s.alerts)).scalar() or 0
        alert_id = f"A-{count + 1}"
        self.conn.execute(s.alerts.insert().values(id=alert_id, **_in(row, s.alerts)))
        return alert_id

    def update_alert(self, alert_id: str, **values: Unpack[AlertChange]) -> None:
        self.conn.execute(update(s.alerts).where(s.alerts.c.id == alert_id)
                          .values(**_in(values, s.alerts)))

    # ------------------------------------------------------------------ incidents

    def put_incident(self, row: NewIncident) -> str:
        self._touch("incidents")
        count = self.conn.execute(select(func.count()).select_from(s.incidents)).scalar() or 0
        opened = row["opened"]
        incident_id = f"INC-{opened:%Y%m%d}-{count + 1}"
        self.conn.execute(s.incidents.insert().values(id=incident_id,
                                                      **_in(row, s.incidents)))
        return incident_id

    def incident(self, incident_id: str) -> IncidentRow | None:
        row = self.conn.execute(select(s.incidents).where(
            s.incidents.c.id == incident_id)).first()
        return None if row is None else _incident(row)

    def incidents(self, state: str | None = None) -> list[IncidentRow]:
        q = select(s.incidents)
        if state is not None:
            q = q.where(s.incidents.c.state == state)
        return [_incident(r) for r in self.conn.execute(q.order_by(s.incidents.c.opened_us))]

    def update_incident(self, incident_id: str, **values: Unpack[IncidentChange]) -> None:
        self._touch("incidents")
        self.conn.execute(update(s.incidents).where(s.incidents.c.id == incident_id)
                          .values(**_in(values, s.incidents)))

    def add_event(self, incident: str, at: datetime, kind: str, actor: str,
                  detail: Message) -> None:
        self.conn.execute(s.timeline.insert().values(incident=incident, at_us=to_us(at),
                                                     kind=kind, actor=actor,
                                                     detail=detail.to_json()))

    def events(self, incident: str) -> list[TimelineRow]:
        rows = self.conn.execute(select(s.timeline).where(s.timeline.c.incident == incident)
                                 .order_by(s.timeline.c.at_us, s.timeline.c.id))
        return [_row(TimelineRow, r, s.timeline) for r in rows]

    # ------------------------------------------------------------------ webhook outbox

    def queue_notification(self, alert: str, body: str, at: datetime) -> None:
        self.conn.execute(s.notifications.insert().values(
            alert=alert, body=body, state="queued", attempts=0, next_us=to_us(at)))

    def due_notifications(self, now: datetime, limit: int = 50) -> list[NotificationRow]:
        rows = self.conn.execute(select(s.notifications).where(
            s.notifications.c.state == "queued", s.notifications.c.next_us <= to_us(now))
            .order_by(s.notifications.c.id).limit(limit))
        return [_row(NotificationRow, r, s.notifications) for r in rows]

    def notifications(self) -> list[NotificationRow]:
        rows = self.conn.execute(select(s.notifications).order_by(s.notifications.c.id))
        return [_row(NotificationRow, r, s.notifications) for r in rows]

    def update_notification(self, notification_id: int,
                            **values: Unpack[NotificationChange]) -> None:
        self.conn.execute(update(s.notifications).where(s.notifications.c.id == notification_id)
                          .values(**_in(values, s.notifications)))

    # ------------------------------------------------------------------ balance samples

    def put_sample(self, wallet: str, block: int, ts: int, balance: int) -> None:
        exists = self.conn.execute(select(s.balance_samples.c.block).where(
            s.balance_samples.c.wallet == wallet, s.balance_samples.c.block == block)).first()
        if exists is None:
            self.conn.execute(s.balance_samples.insert().values(
                wallet=wallet, block=block, ts=ts, balance=balance))

    def samples(self, wallet: str, since_ts: int) -> list[SampleRow]:
        rows = self.conn.execute(select(s.balance_samples).where(
            s.balance_samples.c.wallet == wallet, s.balance_samples.c.ts >= since_ts)
            .order_by(s.balance_samples.c.block))
        return [_row(SampleRow, r, s.balance_samples) for r in rows]

    def forget_samples_after(self, wallets: list[str], block: int) -> None:
        self.conn.execute(delete(s.balance_samples).where(
            s.balance_samples.c.wallet.in_(wallets), s.balance_samples.c.block > block))

    # artifacts: files kinko wrote, indexed -------------------------------------------

    def put_artifact(self, row: ArtifactRow) -> None:
        self.conn.execute(s.artifacts.insert().values(**_in(row, s.artifacts)))

    def update_artifact(self, artifact_id: str, **values: Unpack[ArtifactChange]) -> None:
        self.conn.execute(update(s.artifacts).where(s.artifacts.c.id == artifact_id)
                          .values(**_in(values, s.artifacts)))

    def artifact(self, artifact_id: str) -> ArtifactRow | None:
        row = self.conn.execute(select(s.artifacts).where(
            s.artifacts.c.id == artifact_id)).first()
        return None if row is None else _row(ArtifactRow, row, s.artifacts)

    def artifacts(self, kind: str | None = None, incident: str | None = None,
                  limit: int = 200) -> list[ArtifactRow]:
        q = select(s.artifacts)
        if kind is not None:
            q = q.where(s.artifacts.c.kind == kind)
        if incident is not None:
            q = q.where(s.artifacts.c.incident == incident)
        q = q.order_by(s.artifacts.c.created_us.desc(), s.artifacts.c.id).limit(limit)
        return [_row(ArtifactRow, r, s.artifacts) for r in self.conn.execute(q)]

    def count_alerts(self, state: str | None = None) -> int:
        q = select(func.count()).select_from(s.alerts)
        if state is not None:
            q = q.where(s.alerts.c.state == state)
        return int(self.conn.execute(q).scalar_one())

    def change_stamp(self) -> tuple[int, ...]:
        """Small aggregates that change whenever anything an operator watches changes:
        alerts raised or acknowledged, incidents opened or moved, timeline events (breaker
        trips, sweeps, notes), ledger entries, proposals and approvals, withdrawals."""
        one = func.count()
        parts = [
            select(one).select_from(s.alerts).scalar_subquery(),
            select(one).select_from(s.alerts).where(s.alerts.c.state == "open")
            .scalar_subquery(),
            select(one).select_from(s.incidents).scalar_subquery(),
            select(one).select_from(s.incidents).where(s.incidents.c.state == "open")
            .scalar_subquery(),
            select(one).select_from(s.timeline).scalar_subquery(),
            select(one).select_from(s.breaker_events).scalar_subquery(),
            select(func.coalesce(func.max(s.ledger_head.c.seq), 0)).scalar_subquery(),
            select(one).select_from(s.proposals).scalar_subquery(),
            select(one).select_from(s.approvals).scalar_subquery(),
            select(func.coalesce(func.max(s.withdrawals.c.requested_us), 0))
            .scalar_subquery(),
            select(one).select_from(s.withdrawals).where(s.withdrawals.c.state == "review")
            .scalar_subquery(),
        ]
        row = self.conn.execute(select(*parts)).one()
        return tuple(int(v) for v in row)
