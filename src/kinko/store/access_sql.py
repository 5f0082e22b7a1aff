"""API keys and the audit log in SQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, delete, select, update

from kinko.ports import ApiKeyRow, AuditRow, SessionRow
from kinko.store import schema as s
from kinko.store.driver import defer, run
from kinko.store.stamps import untouched
from kinko.store.values import from_us, stored_int, stored_text, stored_time, to_us

__all__ = ["AUDIT_HEAD", "SqlAccess", "audit_head"]

# the audit log's last record: its sequence number and hash
AUDIT_HEAD = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"


def audit_head(row: Any) -> tuple[int, str]:
    """The audit head from ``AUDIT_HEAD``'s row (None: the log is empty)."""
    return (0, "0" * 64) if row is None else (int(row[0]), str(row[1]))


class SqlAccess:
    def __init__(self, conn: Connection, touch: Callable[[str], None] | None = None, *,
                 head: tuple[int, str] | None = None, carry: bool = False) -> None:
        self.conn = conn
        self._touch = touch or untouched  # a stamped table is written (SqlUnit.touch)
        # a write unit's audit head (the writers' lock is held: nobody else appends), carried
        # from unit to unit of a batch like the ledger's; None: read it
        self.head = head if carry else None
        self._carry = carry

    def put_key(self, key_id: str, name: str, role: str, secret_hash: str, at: datetime) -> None:
        self._touch("api_keys")
        self.conn.execute(s.api_keys.insert().values(
            id=key_id, name=name, role=role, secret_hash=secret_hash, created_us=to_us(at)))

    def key(self, key_id: str) -> ApiKeyRow | None:
        row = self.conn.execute(select(s.api_keys).where(s.api_keys.c.id == key_id)).first()
        return None if row is None else cast(ApiKeyRow, dict(row._mapping))

    def api_keys(self) -> list[ApiKeyRow]:
        rows = self.conn.execute(select(s.api_keys).order_by(s.api_keys.c.created_us))
        return [cast(ApiKeyRow, dict(r._mapping)) for r in rows]

    def revoke(self, key_id: str, at: datetime) -> bool:
        self._touch("api_keys")
        done = self.conn.execute(update(s.api_keys).where(
            s.api_keys.c.id == key_id, s.api_keys.c.revoked_us.is_(None)).values(
            revoked_us=to_us(at)))
        return bool(done.rowcount == 1)

    def audit_head(self) -> tuple[int, str]:
        if self.head is not None:
            return self.head
        head = audit_head(run(self.conn, AUDIT_HEAD).first())
        if self._carry:
            self.head = head
        return head

    def put_audit(self, row: AuditRow) -> None:
        """Append a record (sent with the unit's next statement: see ``driver.defer``)."""
        p = "?" if self.conn.dialect.name == "sqlite" else "%s"
        defer(self.conn,
            "INSERT INTO audit_log (seq, at_us, actor, action, target, detail, prev_hash, "
            f"hash) VALUES ({', '.join([p] * 8)})",
            (row["seq"], to_us(row["at"]), row["actor"], row["action"], row["target"],
             row["detail"], row["prev_hash"], row["hash"]))
        if self._carry:
            self.head = (int(row["seq"]), str(row["hash"]))

    def audit(self, after: int = 0, limit: int = 1000, action: str = "") -> list[AuditRow]:
        """Up to ``limit`` records after ``after``, in order; with ``action``, only those
        whose action starts with it (``_`` and ``%`` in it are plain characters)."""
        query = select(s.audit_log).where(s.audit_log.c.seq > after)
        if action:
            query = query.where(s.audit_log.c.action.startswith(action, autoescape=True))
        rows = self.conn.execute(query.order_by(s.audit_log.c.seq).limit(limit))
        return [_audit_row(r) for r in rows]

    # dashboard sessions -----------------------------------------------------------------

    def put_session(self, id_hash: str, key_id: str, csrf: str, at: datetime,
                    expires: datetime) -> None:
        self.conn.execute(s.web_sessions.insert().values(
            id_hash=id_hash, key_id=key_id, csrf=csrf, created_us=to_us(at),
            expires_us=to_us(expires)))

    def session(self, id_hash: str) -> SessionRow | None:
        row = self.conn.execute(select(s.web_sessions).where(
            s.web_sessions.c.id_hash == id_hash)).first()
        if row is None:
            return None
        return SessionRow(id_hash=row.id_hash, key_id=row.key_id, csrf=row.csrf,
                          created=from_us(row.created_us), expires=from_us(row.expires_us),
                          ended=None if row.ended_us is None else from_us(row.ended_us))

    def end_session(self, id_hash: str, at: datetime) -> bool:
        done = self.conn.execute(update(s.web_sessions).where(
            s.web_sessions.c.id_hash == id_hash, s.web_sessions.c.ended_us.is_(None)).values(
            ended_us=to_us(at)))
        return bool(done.rowcount == 1)

    def forget_sessions(self, before: datetime) -> int:
        """Delete sessions that expired before ``before``."""
        done = self.conn.execute(delete(s.web_sessions).where(
            s.web_sessions.c.expires_us < to_us(before)))
        return int(done.rowcount or 0)


def _audit_row(r: Any) -> AuditRow:
    """A stored audit record; one holding what kinko never writes (SQLite keeps any
    ``UPDATE``'s text or bytes) is :class:`~kinko.errors.StoredValueInvalid`, naming it."""
    seq = stored_int(r.seq, "audit_log", "seq", r.seq)
    text = {c: stored_text(getattr(r, c), "audit_log", c, seq, seq)
            for c in ("actor", "action", "target", "detail", "prev_hash", "hash")}
    return AuditRow(seq=seq, at=stored_time(r.at_us, "audit_log", "at_us", seq, seq),
                    actor=text["actor"], action=text["action"], target=text["target"],
                    detail=text["detail"], prev_hash=text["prev_hash"], hash=text["hash"])
