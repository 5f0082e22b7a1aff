"""The co-signer's read of kinko's database, and the one table it writes there: alerts.

The co-signer trusts nothing its caller says about a request: it reads the request itself
from kinko's database — the withdrawal with its screening outcome and its hold, or the
proposal with its approvals and the policy version it was made under, the wallets, the
assets, the breakers, an emergency sweep's incident — in one read unit of work (one
consistent snapshot; ``REPEATABLE READ`` on PostgreSQL), after checking the schema is the
one this code reads.

Read-only where the database allows it:

- **SQLite**: the file is opened with ``mode=ro`` (SQLite refuses every write on that
  connection). Alerts go through a second, ordinary connection that only inserts into
  ``alerts``; SQLite has no per-table rights, so this is a convention of the code, not a
  barrier: on SQLite the co-signer's host can write kinko's file anyway.
- **PostgreSQL**: every session is ``default_transaction_read_only``; the barrier is the
  co-signer's own role, which needs only (``docs/cosign.md``)::

      GRANT SELECT ON alembic_version, assets, wallets, holds, withdrawals, proposals,
                      approvals, policies, policy_vetoes, breaker_events, incidents
                      TO kinko_cosign;
      GRANT INSERT ON alerts TO kinko_cosign;   -- its refusals, where operators look

An unreachable database, a missing grant or another schema version is
:class:`~kinko.errors.StoreUnavailable`: the co-signer refuses (fails closed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from kinko.domain.cosign import (
    REASONS,
    CosignRequest,
    KinkoFacts,
    PolicyRecord,
    ProposalFacts,
    WithdrawalFacts,
)
from kinko.domain.messages import msg, verbatim
from kinko.domain.money import AssetRegistry
from kinko.domain.policy import Policy, policy_from_canonical
from kinko.domain.policy_lock import VersionFacts, version_facts
from kinko.errors import KinkoError, StoreUnavailable
from kinko.store import schema as s
from kinko.store.migrate import HEAD
from kinko.store.sql import SqlStore, SqlUnit, open_store
from kinko.store.values import normalise_url, redact, to_us

__all__ = ["KINKO_GRANTS", "KinkoAlertSink", "SqlKinkoView", "read_only_url"]

KINKO_GRANTS = {
    "SELECT": ("alembic_version", "assets", "wallets", "holds", "withdrawals", "proposals",
               "approvals", "policies", "policy_vetoes", "breaker_events", "incidents"),
    "INSERT": ("alerts",),
}
"""The rights the co-signer's PostgreSQL role needs on kinko's database, and no more."""


def read_only_url(url: str, *, timeout_s: int = 5) -> str:
    """``url`` opened read-only: SQLite through a ``mode=ro`` URI, PostgreSQL with every
    transaction read-only and statements bounded by ``timeout_s``."""
    url = normalise_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return url
        path = Path(database).resolve()
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    if backend == "postgresql":
        options = (f"-c default_transaction_read_only=on "
                   f"-c statement_timeout={timeout_s * 1000}")
        return parsed.update_query_dict({"options": options,
                                         "connect_timeout": str(timeout_s)}
                                        ).render_as_string(hide_password=False)
    return url


class SqlKinkoView:
    """The ``KinkoView`` port on kinko's SQL store, opened read-only."""

    def __init__(self, url: str, *, timeout_s: int = 5) -> None:
        self.url = url
        self.store: SqlStore = open_store(read_only_url(url, timeout_s=timeout_s))

    def close(self) -> None:
        self.store.close()

    def facts(self, request: CosignRequest) -> KinkoFacts:
        try:
            return self._facts(request)
        except (OperationalError, ProgrammingError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise self._unreadable(reason) from None

    def policies(self) -> dict[int, PolicyRecord]:
        """Every stored policy version with its activation (``kinko cosign policies``)."""
        try:
            with self.store.unit(write=False) as unit:
                registry = AssetRegistry(unit.ledger.assets())
                return self._policies(unit, registry)
        except (OperationalError, ProgrammingError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise self._unreadable(reason) from None

    def versions(self) -> tuple[list[VersionFacts], AssetRegistry]:
        """Every stored policy version with its vetoes, as the co-signer judges which one
        is in force (``kinko cosign policies``), and kinko's assets they are read with."""
        try:
            with self.store.unit(write=False) as unit:
                registry = AssetRegistry(unit.ledger.assets())
                return version_facts(unit.custody.policy_rows(), unit.custody.vetoes(),
                                     registry), registry
        except (OperationalError, ProgrammingError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise self._unreadable(reason) from None

    def _unreadable(self, reason: str) -> StoreUnavailable:
        return StoreUnavailable(f"kinko's database at {redact(self.url)} cannot be read: "
                                f"{reason}", reason=reason,
                                says=msg("error.cosign_view.unreadable",
                                         url=redact(self.url)[:200], reason=reason[:200]))

    def _facts(self, request: CosignRequest) -> KinkoFacts:
        with self.store.unit(write=False) as unit:  # one consistent snapshot
            revision = unit.conn.execute(text("SELECT version_num FROM alembic_version")
                                         ).scalar()
            if revision != HEAD:
                raise StoreUnavailable(f"kinko's database at {redact(self.url)} is at schema "
                                       f"revision {revision}; the co-signer reads {HEAD}",
                                       says=msg("error.cosign_view.schema",
                                                url=redact(self.url)[:200],
                                                revision=str(revision)[:40], head=HEAD))
            assets = {a.symbol: a for a in unit.ledger.assets()}
            registry = AssetRegistry(assets.values())
            withdrawal = proposal = None
            policies = self._policies(unit, registry)
            if request.kind == "withdrawal":
                withdrawal = self._withdrawal(unit, request.id)
                if withdrawal is not None and withdrawal.outcome == "review":
                    proposal = self._proposal(unit, policies, f"withdrawal-{request.id}")
            else:
                proposal = self._proposal(unit, policies, request.id)
            # which version was in force when: recomputed by the co-signer from the rows
            versions = version_facts(unit.custody.policy_rows(), unit.custody.vetoes(),
                                     registry)
            return KinkoFacts(withdrawal, proposal, assets, tuple(unit.ledger.wallets()),
                              frozenset(unit.screening.tripped()), policies, versions)

    @staticmethod
    def _withdrawal(unit: SqlUnit, withdrawal_id: str) -> WithdrawalFacts | None:
        row = unit.screening.withdrawal(withdrawal_id)
        if row is None:
            return None
        decision = json.loads(row["decision"])
        outcome = str(decision.get("outcome", ""))
        under = decision.get("policy_version")
        hold = unit.ledger.hold_state(f"withdrawal:{withdrawal_id}")
        return WithdrawalFacts(
            id=row["id"], asset=row["asset"], amount=int(row["amount"]),
            destination=row["destination"], wallet=row["wallet"], state=row["state"],
            outcome=outcome, hold_state=hold[1] if hold else None,
            hold_expires=hold[0].expires_at if hold else None,
            decided_under=under if isinstance(under, int) else None,
            requested_at=row["requested_at"])

    @staticmethod
    def _policies(unit: SqlUnit, registry: AssetRegistry) -> dict[int, PolicyRecord]:
        """Every stored policy version with the proposal (and approvals) that activated
        it: the co-signer checks the lineage itself (a handful of rows)."""
        out: dict[int, PolicyRecord] = {}
        for row in unit.conn.execute(select(s.policies).order_by(s.policies.c.version)):
            try:
                policy: Policy | None = policy_from_canonical(json.loads(row.body), registry)
            except (KinkoError, KeyError, TypeError, ValueError):
                policy = None  # unreadable: nothing verifies against it
            activation = None
            if row.activated_by != "bootstrap":
                found = unit.custody.proposal(str(row.activated_by))
                if found is not None:
                    activation = ProposalFacts(found[0], found[1],
                                               tuple(unit.custody.approvals(found[0].id)),
                                               None)
            out[int(row.version)] = PolicyRecord(int(row.version), policy,
                                                 str(row.activated_by), activation)
        return out

    @staticmethod
    def _proposal(unit: SqlUnit, policies: dict[int, PolicyRecord],
                  proposal_id: str) -> ProposalFacts | None:
        row = unit.custody.proposal(proposal_id)
        if row is None:
            return None
        proposal, state, _tx_hash, _detail = row
        approvals = tuple(unit.custody.approvals(proposal_id))
        record = policies.get(proposal.policy_version)
        incident_state = None
        emergency = proposal.payload.get("emergency")
        if emergency:
            incident = unit.watch.incident(str(emergency))
            incident_state = str(incident["state"]) if incident is not None else None
        return ProposalFacts(proposal, state, approvals,
                             record.policy if record is not None else None, incident_state)


class KinkoAlertSink:
    """An ``AlertSink`` inserting the co-signer's refusals into kinko's ``alerts`` table
    (kind ``cosign_refused``), where the dashboard, ``kinko alerts list`` and the live
    overview show them. The same alert delivered twice (a crash after inserting) is one
    row: its key is unique."""

    name = "kinko"

    def __init__(self, url: str, *, timeout_s: int = 5) -> None:
        self.url = url
        url = normalise_url(url)
        if make_url(url).get_backend_name() == "postgresql":
            parsed = make_url(url).update_query_dict({"connect_timeout": str(timeout_s)})
            self.engine: Engine = create_engine(parsed, pool_pre_ping=True)
        else:
            self.engine = open_store(url).engine

    def close(self) -> None:
        self.engine.dispose()

    def deliver(self, alert: Mapping[str, Any]) -> None:
        cosigner = str(alert["cosigner"])
        row: dict[str, Any] = {
            "id": f"A-cosign-{cosigner[2:10].lower()}-{int(alert['record'])}",
            "key": f"cosign:{cosigner.lower()}:{int(alert['record'])}",
            "kind": "cosign_refused", "severity": str(alert["severity"]), "state": "open",
            "chain_state": None, "asset": alert.get("asset") or None,
            "wallet": alert.get("wallet") or None, "tx_hash": None,
            "amount": int(alert["amount"]) if alert.get("amount") else None, "block": None,
            "detail": _detail(alert), "incident": None,
            "raised_us": to_us(datetime.fromisoformat(str(alert["at"])))}
        try:
            with self.engine.connect() as conn, conn.begin():
                conn.execute(s.alerts.insert().values(**row))
        except IntegrityError:
            return  # delivered before
        except (OperationalError, ProgrammingError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StoreUnavailable(f"kinko's database at {redact(self.url)} did not take the "
                                   f"alert: {reason}",
                                   says=msg("error.cosign_view.alert_not_taken",
                                            url=redact(self.url)[:200],
                                            reason=reason[:200])) from None


def _detail(alert: Mapping[str, Any]) -> str:
    """The alert's words as a catalog message (kinko.domain.messages), so the dashboard
    shows it in the reader's language: the reason code and its meaning, never the
    co-signer's English sentence (its own log keeps that: ``kinko cosign log``)."""
    head = alert.get("log_head") or {}
    reason = str(alert["reason"])
    return msg(
        "alert.cosign_refused", cosigner=str(alert["cosigner"]),
        request=str(alert.get("request") or "—"), safe=str(alert.get("safe") or "—"),
        code=reason, reason=msg(f"cosign.reason.{reason}") if reason in REASONS
        else verbatim(reason), record=int(alert["record"]), caller=str(alert["caller"]),
        seq=str(head.get("seq")), hash=str(head.get("hash"))).to_json()
