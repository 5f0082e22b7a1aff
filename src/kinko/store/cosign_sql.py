"""The co-signer's own database: its decision log, what it signed, and its alert outbox.

A database of its own (a SQLite file by default, ``cosign.db``; PostgreSQL works too),
never kinko's: the co-signer only *reads* kinko's (:mod:`kinko.store.cosign_view`). Four
tables, created on first open and checked on every later one (``cosign_meta`` holds the
schema version; a newer or older one is refused, never guessed at):

- ``cosign_decisions``: every answer, hash-chained (:mod:`kinko.domain.cosign_log`);
- ``cosign_head``: the number and hash of the last record (one row, locked by each
  decision on PostgreSQL, so decisions are serialised across processes there too);
- ``cosign_signed``: the slashing-protection table, one row per request it signed, unique
  per request and per (Safe, chain, nonce), with the signature it gave;
- ``cosign_outbox``: alerts waiting for each of their sinks (kinko's alerts table, a
  webhook), retried until delivered.

Durability: a decision is committed before the co-signer answers, and a commit is on disk
when it returns (SQLite ``synchronous=FULL`` in WAL mode fsyncs the log at every commit;
PostgreSQL's default ``synchronous_commit = on``). SQLite decisions open with ``BEGIN
IMMEDIATE``: one writer at a time, whichever process it is in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Unpack, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    create_engine,
    event,
    func,
    inspect,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

from kinko.domain.cosign_log import GENESIS, Decision, SignedRow
from kinko.domain.messages import msg
from kinko.errors import ConfigError, StoreUnavailable
from kinko.ports import CosignAlertChange, CosignAlertRow
from kinko.store.schema import Amount
from kinko.store.values import (
    from_us,
    missing_row,
    missing_sqlite_file,
    normalise_url,
    redact,
    stored_int,
    stored_text,
    stored_time,
    to_us,
)

__all__ = ["SCHEMA_VERSION", "SqlCosignLog", "open_cosign_log"]

SCHEMA_VERSION = "1"
metadata = MetaData()

meta = Table(
    "cosign_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

head = Table(
    "cosign_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

decisions = Table(
    "cosign_decisions", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at_us", BigInteger, nullable=False),
    Column("caller", String(200), nullable=False),
    Column("outcome", String(10), nullable=False),  # signed, repeated, refused
    Column("request", String(240), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("safe", String(42), nullable=False),
    Column("chain_id", Amount, nullable=False),
    Column("nonce", Amount, nullable=False),
    Column("safe_tx_hash", String(66), nullable=False),
    Column("safe_tx", Text, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("counts", Boolean, nullable=False),
    Column("signer", String(42), nullable=False),
    Column("signature", String(132), nullable=False),
    Column("alerted", Boolean, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_cosign_decisions_reason", "outcome", "reason", "at_us"),
)

signed = Table(
    "cosign_signed", metadata,  # exactly once: what was signed, per request and per nonce
    Column("request", String(240), primary_key=True),
    Column("safe", String(42), nullable=False),  # lower-case
    Column("chain_id", Amount, nullable=False),
    Column("nonce", Amount, nullable=False),
    Column("safe_tx_hash", String(66), nullable=False),
    Column("signature", String(132), nullable=False),
    Column("record", BigInteger, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("counts", Boolean, nullable=False),
    UniqueConstraint("safe", "chain_id", "nonce", name="uq_cosign_signed_nonce"),
    Index("ix_cosign_signed_window", "safe", "at_us"),
)

outbox = Table(
    "cosign_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("record", BigInteger, nullable=False),
    Column("sink", String(32), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(10), nullable=False),  # queued, sent
    Column("attempts", Integer, nullable=False),
    Column("queued_us", BigInteger, nullable=False),
    Column("next_us", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Index("ix_cosign_outbox_due", "state", "next_us"),
    Index("ix_cosign_outbox_reason", "reason", "queued_us"),
)


# the decisions as stored (amounts as the text or number the database holds): a value
# kinko never writes is named by :func:`_decision`, not a failure of the column's type
_STORED = select(*(type_coerce(c, Text).label(c.name) if isinstance(c.type, Amount) else c
                   for c in decisions.c))
_TEXTS = ("caller", "outcome", "request", "reason", "detail", "safe", "safe_tx_hash",
          "safe_tx", "asset", "signer", "signature", "prev_hash", "hash")


def _decision(row: Any) -> Decision:
    """A stored decision; one holding what kinko never writes (SQLite keeps any
    ``UPDATE``'s text or bytes) is :class:`~kinko.errors.StoredValueInvalid`, naming it."""
    table = "cosign_decisions"
    seq = stored_int(row.seq, table, "seq", row.seq)
    t = {c: stored_text(getattr(row, c), table, c, seq, seq) for c in _TEXTS}
    n = {c: stored_int(getattr(row, c), table, c, seq, seq)
         for c in ("chain_id", "nonce", "amount")}
    return Decision(
        seq=seq, at=stored_time(row.at_us, table, "at_us", seq, seq), caller=t["caller"],
        outcome=t["outcome"], request=t["request"], reason=t["reason"], detail=t["detail"],
        safe=t["safe"], chain_id=n["chain_id"], nonce=n["nonce"],
        safe_tx_hash=t["safe_tx_hash"], safe_tx=t["safe_tx"], asset=t["asset"],
        amount=n["amount"], counts=bool(row.counts), signer=t["signer"],
        signature=t["signature"], alerted=bool(row.alerted), prev_hash=t["prev_hash"],
        hash=t["hash"])


class _Tables:
    """The co-signer's tables on one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def head(self) -> tuple[int, str]:
        row = self.conn.execute(select(type_coerce(head.c.seq, Text).label("seq"), head.c.hash)
                                .where(head.c.id == 1)).first()
        if row is None:
            raise missing_row("cosign_head", 1)
        return (stored_int(row.seq, "cosign_head", "seq", 1),
                stored_text(row.hash, "cosign_head", "hash", 1))

    def _signing(self, where: Any) -> Decision | None:
        row = self.conn.execute(select(signed.c.record).where(where)).first()
        if row is None:
            return None
        found = self.conn.execute(_STORED.where(decisions.c.seq == row.record)).first()
        if found is None:
            raise StoreUnavailable(f"the co-signer's database keeps a signature of record "
                                   f"{row.record}, which is missing from its log: run "
                                   "`kinko cosign verify`",
                                   says=msg("error.cosign_log.signature_unlogged",
                                            record=str(row.record)))
        return _decision(found)

    def signed(self, request: str) -> Decision | None:
        return self._signing(signed.c.request == request)

    def signed_at(self, safe: str, chain_id: int, nonce: int) -> Decision | None:
        return self._signing((signed.c.safe == safe.lower()) & (signed.c.chain_id == chain_id)
                             & (signed.c.nonce == nonce))

    def used(self, safe: str, asset: str, since: datetime) -> int:
        rows = self.conn.execute(select(signed.c.amount).where(
            (signed.c.safe == safe.lower()) & (signed.c.asset == asset)
            & (signed.c.at_us >= to_us(since)) & signed.c.counts))
        return sum(int(r.amount) for r in rows)

    def append(self, decision: Decision) -> None:
        seq, prev = self.head()
        if decision.seq != seq + 1 or decision.prev_hash != prev:
            raise StoreUnavailable(f"decision {decision.seq} does not follow the head "
                                   f"({seq}): another writer? nothing was recorded",
                                   says=msg("error.cosign_log.not_head",
                                            seq=str(decision.seq), head=str(seq)))
        values = {name: getattr(decision, name) for name in (
            "seq", "caller", "outcome", "request", "reason", "detail", "safe", "chain_id",
            "nonce", "safe_tx_hash", "safe_tx", "asset", "amount", "counts", "signer",
            "signature", "alerted", "prev_hash", "hash")}
        self.conn.execute(decisions.insert().values(at_us=to_us(decision.at), **values))
        if decision.outcome == "signed":
            self.conn.execute(signed.insert().values(
                request=decision.request, safe=decision.safe.lower(),
                chain_id=decision.chain_id, nonce=decision.nonce,
                safe_tx_hash=decision.safe_tx_hash, signature=decision.signature,
                record=decision.seq, at_us=to_us(decision.at), asset=decision.asset,
                amount=decision.amount, counts=decision.counts))
        self.conn.execute(update(head).where(head.c.id == 1).values(
            seq=decision.seq, hash=decision.hash))

    def queue_alert(self, record: int, sinks: Sequence[str], body: str,
                    at: datetime) -> None:
        reason = str(json.loads(body).get("reason", ""))
        for sink in sinks:
            self.conn.execute(outbox.insert().values(
                record=record, sink=sink, reason=reason, body=body, state="queued",
                attempts=0, queued_us=to_us(at), next_us=to_us(at), last_error=None))

    def last_alert(self, reason: str) -> datetime | None:
        found = self.conn.execute(select(func.max(outbox.c.queued_us)).where(
            outbox.c.reason == reason)).scalar()
        return None if found is None else from_us(int(found))

    def records(self, after: int = 0, limit: int | None = None) -> list[Decision]:
        q = _STORED.where(decisions.c.seq > after).order_by(decisions.c.seq)
        if limit is not None:
            q = q.limit(limit)
        return [_decision(r) for r in self.conn.execute(q)]

    def signed_rows(self) -> list[SignedRow]:
        # counts as :meth:`used`'s WHERE reads it (SQLite keeps any text an UPDATE writes)
        counted = case((signed.c.counts, True), else_=False).label("counted")
        raw = [type_coerce(c, Text).label(c.name) if isinstance(c.type, Amount) else c
               for c in signed.c]
        out = []
        for r in self.conn.execute(select(*raw, counted).order_by(signed.c.record)):
            key = stored_text(r.request, "cosign_signed", "request", r.request)

            def number(column: str, r: Any = r, key: str = key) -> int:
                return stored_int(getattr(r, column), "cosign_signed", column, key)
            out.append(SignedRow(
                key, number("record"), stored_text(r.safe_tx_hash, "cosign_signed",
                                                   "safe_tx_hash", key),
                stored_text(r.signature, "cosign_signed", "signature", key),
                stored_text(r.safe, "cosign_signed", "safe", key), number("chain_id"),
                number("nonce"), stored_time(r.at_us, "cosign_signed", "at_us", key),
                stored_text(r.asset, "cosign_signed", "asset", key), number("amount"),
                bool(r.counted)))
        return out

    def due_alerts(self, now: datetime, limit: int = 50) -> list[CosignAlertRow]:
        rows = self.conn.execute(select(outbox).where(
            (outbox.c.state == "queued") & (outbox.c.next_us <= to_us(now)))
            .order_by(outbox.c.id).limit(limit))
        return [cast(CosignAlertRow, dict(r._mapping)) for r in rows]

    def alerts(self) -> list[CosignAlertRow]:
        return [cast(CosignAlertRow, dict(r._mapping)) for r in self.conn.execute(
            select(outbox).order_by(outbox.c.id))]

    def update_alert(self, alert_id: int, **values: Unpack[CosignAlertChange]) -> None:
        columns: dict[str, Any] = {k: v for k, v in values.items() if k != "next"}
        if "next" in values:
            columns["next_us"] = to_us(values["next"])
        self.conn.execute(update(outbox).where(outbox.c.id == alert_id).values(**columns))


class SqlCosignLog:
    """The ``CosignLog`` port on SQLAlchemy Core; see the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_Tables]:
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(cosign_write=True)
                with conn.begin():
                    if write and self.dialect == "postgresql":
                        conn.execute(select(head.c.seq).where(head.c.id == 1)
                                     .with_for_update())
                    yield _Tables(conn)
        except (OperationalError, ProgrammingError) as exc:
            if isinstance(exc, IntegrityError):
                raise
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StoreUnavailable(f"the co-signer's database at {redact(str(self.engine.url))}"
                                   f" is unavailable: {reason}", reason=reason,
                                   says=msg("error.cosign_log.unavailable",
                                            url=redact(str(self.engine.url))[:200],
                                            reason=reason[:200])) from None

    def create(self) -> None:
        """Create the tables if they are missing; refuse a database of another version."""
        try:
            metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                version = conn.execute(select(meta.c.value).where(
                    meta.c.key == "schema_version")).scalar()
                if version is None:
                    conn.execute(meta.insert().values(key="schema_version",
                                                      value=SCHEMA_VERSION))
                    conn.execute(head.insert().values(id=1, seq=0, hash=GENESIS))
                elif version != SCHEMA_VERSION:
                    raise ConfigError(f"the co-signer's database at "
                                      f"{redact(str(self.engine.url))} has schema version "
                                      f"{version}; this kinko reads version {SCHEMA_VERSION}",
                                      says=msg("error.cosign_log.schema",
                                               url=redact(str(self.engine.url))[:200],
                                               version=str(version)[:40],
                                               reads=str(SCHEMA_VERSION)))
        except (OperationalError, ProgrammingError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StoreUnavailable(f"cannot open the co-signer's database at "
                                   f"{redact(str(self.engine.url))}: {reason}",
                                   says=msg("error.cosign_log.cannot_open",
                                            url=redact(str(self.engine.url))[:200],
                                            reason=reason[:200])) from None

    def stored_head(self) -> tuple[int, str]:
        """The head row, after checking the log ends there (a cheap check for every start;
        ``kinko cosign verify`` checks the whole chain): a log cut or rewritten at its end
        could make the co-signer forget a signature, so it does not start on one."""
        with self.transaction(write=False) as tables:
            seq, digest = tables.head()
            last = tables.conn.execute(
                select(decisions.c.seq, decisions.c.hash).order_by(decisions.c.seq.desc())
                .limit(1)).first()
            found = (0, GENESIS) if last is None else (int(last.seq), str(last.hash))
            if found != (seq, digest):
                raise ConfigError(f"the co-signer's log at {redact(str(self.engine.url))} ends "
                                  f"at record {found[0]} but its head says {seq}: it was cut "
                                  "or rewritten; run `kinko cosign verify` before it signs "
                                  "again", says=msg("error.cosign_log.cut",
                                                    url=redact(str(self.engine.url))[:200],
                                                    last=str(found[0]), head=str(seq)))
            return seq, digest


def _never_started(engine: Engine) -> bool:
    """Whether the co-signer never started on this database: a SQLite file that is not
    there (not made here), or a database with none of its tables; False when that cannot
    be read (the reader then says why)."""
    if missing_sqlite_file(engine.url):
        return True
    try:
        present = set(inspect(engine).get_table_names())
    except (OperationalError, ProgrammingError):
        return False
    return not present & set(metadata.tables)


def _sqlite(url: str) -> Engine:
    parsed = make_url(url)
    memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 10}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # every commit synced before it returns
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("cosign_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def open_cosign_log(url: str, *, create: bool = True) -> SqlCosignLog:
    """The co-signer's database at ``url`` (``sqlite:///cosign.db`` or ``postgresql://``),
    its tables created on first use (``create``) and its schema version checked. Without
    ``create`` (a reader: ``kinko cosign log``, ``verify``), a database the co-signer has
    never started on (no file, or none of its tables) reads as an empty log, and nothing
    is created in it; one that has some of its tables and not others is refused."""
    url = normalise_url(url)
    try:
        dialect = make_url(url).get_backend_name()
    except Exception as exc:
        raise ConfigError(f"the co-signer's database URL is not valid: {exc}",
                          says=msg("error.cosign_log.bad_url")) from None
    if dialect == "sqlite":
        engine = _sqlite(url)
    elif dialect == "postgresql":
        engine = create_engine(url, pool_pre_ping=True)
    else:
        raise ConfigError(f"unsupported database {dialect!r} for the co-signer: use "
                          "sqlite:/// or postgresql://",
                          says=msg("error.cosign_log.dialect", dialect=dialect[:40]))
    if not create and _never_started(engine):  # an empty log: nothing made for a reader
        engine.dispose()
        return open_cosign_log("sqlite://")
    log = SqlCosignLog(engine)
    if create:
        log.create()
    else:
        with log.transaction(write=False) as tables:
            tables.head()
    return log
