"""API keys with roles, and the hash-chained audit log of every change made through them.

A key is shown once when created (``kinko_<id>_<secret>``); kinko stores only the SHA-256
of it, so a database dump reveals no usable key. Roles:

- ``auditor``: read everything;
- ``operator``: also request and reject withdrawals, trip breakers, propose resets;
- ``approver``: also approve withdrawals and breaker resets (never their own requests);
- ``admin``: everything, including creating and revoking keys.

Every mutating call appends to the audit log: who, what, on what, with what outcome; and
so does every refusal that matters (a wrong key, an approval refused: ``ACTION.refused``).
Each record carries the hash of the one before, so an edit, a deletion or a reordering is
detected by :meth:`Access.check_audit`; deleting the newest records (with the head) is
detected against an anchored head kept outside the database (``kinko audit verify --head
SEQ:HASH`` or ``--anchor FILE``), as for the ledger. Use cases that write in their own
transaction append with :func:`append_audit` on that transaction's tables::

    with store.access() as tables:
        append_audit(tables, clock.now(), "alice", "withdrawal.approve", "W-1", {...})
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from kinko.domain.messages import msg
from kinko.errors import BadInput, Forbidden, StoredValueInvalid, Unauthorized
from kinko.ports import AccessTables, ApiKeyRow, AuditRow, Clock, Store
from kinko.services.throttle import Throttle

__all__ = ["PERMISSIONS", "ROLES", "Access", "ApiKey", "AuditCheck", "AuditProblem",
           "Forbidden", "Unauthorized", "append_audit", "parse_anchor"]

Role = Literal["auditor", "operator", "approver", "admin"]
ROLES: tuple[Role, ...] = ("auditor", "operator", "approver", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "operate": frozenset({"operator", "admin"}),
    "approve": frozenset({"approver", "admin"}),
    "admin": frozenset({"admin"}),
}


class _WrongSecret(Unauthorized):
    """An existing key with a wrong secret (or revoked): counted against that key."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKey:
        """The key a stored row is (its role one :meth:`Access.create_key` checked)."""
        return cls(row["id"], row["name"], cast(Role, row["role"]))

    def require(self, permission: str) -> None:
        if self.role not in PERMISSIONS[permission]:
            raise Forbidden(f"key {self.name!r} has role {self.role}; this needs "
                            f"{' or '.join(sorted(PERMISSIONS[permission]))}",
                            says=msg("error.role_may_not", key=self.name,
                                     role=msg(f"role.{self.role}")))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit_hash(prev: str, row: Mapping[str, Any]) -> str:
    body = json.dumps({k: row[k] for k in ("seq", "actor", "action", "target", "detail")}
                      | {"at": row["at"].isoformat()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"kinko-audit-v1\n{prev}\n{body}".encode()).hexdigest()


def _audit_page(tables: AccessTables, after: int
                ) -> list[AuditRow] | tuple[list[AuditRow], StoredValueInvalid]:
    """The next records after ``after``; when one of them holds what kinko never writes,
    the records before it (read one at a time) and the error naming it."""
    try:
        return tables.audit(after, 5000)
    except StoredValueInvalid:
        rows: list[AuditRow] = []
        try:
            while one := tables.audit(after, 1):
                rows += one
                after = int(one[0]["seq"])
        except StoredValueInvalid as exc:
            return rows, exc
        return rows  # (written meanwhile: read again)


def _clip(text: str, size: int) -> str:
    """Fit a column: what a caller named (a path, a key) can be of any length."""
    return text if len(text) <= size else text[:size - 1] + "…"


def append_audit(tables: AccessTables, at: datetime, actor: str, action: str, target: str,
                 detail: dict[str, Any]) -> AuditRow:
    """Append one record to the hash chain, in the caller's write transaction (which
    serialises writers, so two records never share a sequence number); the record."""
    seq, prev = tables.audit_head()
    row = AuditRow(seq=seq + 1, at=at, actor=_clip(actor, 200), action=_clip(action, 64),
                   target=_clip(target, 200),
                   detail=json.dumps(detail, sort_keys=True, default=str, ensure_ascii=False),
                   prev_hash=prev, hash="")
    row["hash"] = _audit_hash(prev, row)  # over the record's fields, not its hashes
    tables.put_audit(row)
    return row


_ANCHOR = re.compile(r"\s*(\d{1,18})[:\s]\s*([0-9a-fA-F]{64})\b")


def parse_anchor(text: str, where: str = "--head") -> tuple[int, str]:
    """``SEQ:HASH`` (or ``SEQ HASH``), as ``kinko ledger verify`` and ``kinko audit verify``
    print the head."""
    m = _ANCHOR.match(text)
    if m is None:
        raise BadInput(f"{where}: write the anchored head as SEQ:HASH (the sequence number "
                       f"and 64 hex digits that verify printed), not "
                       f"{text.strip()[:80]!r}",
                       says=msg("error.audit.anchor_format", where=where[:200],
                                text=text.strip()[:80]))
    return int(m.group(1)), m.group(2).lower()


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    message: str


@dataclass(frozen=True)
class AuditCheck:
    """What :meth:`Access.check_audit` found: intact or not, and the head to keep."""

    records: int
    head: tuple[int, str]
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _key_id(token: str | None) -> str | None:
    """The public id in ``kinko_<id>_<secret>`` (never the secret), if it has that shape."""
    parts = (token or "").strip().split("_", 2)
    if len(parts) == 3 and parts[0] == "kinko" and re.fullmatch(r"[0-9A-Za-z]{1,32}", parts[1]):
        return parts[1]
    return None


class Access:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def create_key(self, name: str, role: str, *, actor: str = "cli") -> tuple[ApiKey, str]:
        """A new key; the token is returned once and never stored. Recorded in the audit
        log (``apikey.create``, with the key's name and role) under ``actor``: who created
        it, ``cli`` when the command line was not told."""
        if role not in ROLES:
            raise BadInput(f"role must be one of {', '.join(ROLES)}, not {role!r}",
                           says=msg("error.access.bad_role", roles=", ".join(ROLES),
                                    role=str(role)[:40]))
        if not name.strip():
            raise BadInput("a key needs a name (whose key it is)",
                           says=msg("error.access.key_needs_name"))
        key_id = secrets.token_hex(6)
        token = f"kinko_{key_id}_{secrets.token_urlsafe(32)}"
        with self.store.access() as tables:  # the key and its audit record together
            now = self.clock.now()
            tables.put_key(key_id, name.strip(), role, _hash(token), now)
            append_audit(tables, now, actor, "apikey.create", key_id,
                         {"name": name.strip(), "role": role})
        return ApiKey(key_id, name.strip(), role), token

    def revoke(self, key_id: str, by: str) -> None:
        with self.store.access() as tables:
            if not tables.revoke(key_id, self.clock.now()):
                raise BadInput(f"no active key {key_id!r}",
                               says=msg("error.access.no_active_key", id=key_id[:80]))
        self.audit(by, "apikey.revoke", key_id, {})

    def api_keys(self) -> list[dict[str, Any]]:
        with self.store.access(write=False) as tables:
            return [{k: v for k, v in row.items() if k != "secret_hash"}
                    for row in tables.api_keys()]

    def authenticate(self, token: str | None, *, client: str | None = None,
                     throttle: Throttle | None = None, via: str = "api") -> ApiKey:
        """The key ``token`` stands for; Unauthorized otherwise.

        With a ``throttle`` (a server's boundary), a locked client (and, when ``via`` is
        ``"sign_in"``, a locked key) is refused before the key is checked, and a wrong key
        is counted and written to the audit log as ``<via>.refused`` with the client's
        address and the key's public id (never the secret)."""
        if not token:
            raise Unauthorized("an API key is required (Authorization: Bearer <key>)",
                               says=msg("error.access.key_required"))
        key_id = _key_id(token)
        per_key = key_id if via == "sign_in" else None
        if throttle is not None:
            throttle.check(client, per_key)
        try:
            key = self._authenticate(token, key_id)
        except Unauthorized as exc:
            if throttle is not None:
                known = isinstance(exc, _WrongSecret)  # only existing keys are counted
                locked = throttle.fail(client, per_key if known else None)
                self.audit("anonymous", f"{via}.refused", key_id or "-",
                           {"client": client, "reason": exc.message, "locked": locked})
            raise
        if throttle is not None and per_key is not None:
            throttle.forgive(per_key)
        return key

    def recognise(self, token: str | None, *, client: str | None = None,
                  throttle: Throttle | None = None) -> ApiKey | None:
        """The key :meth:`authenticate` answers for ``token`` (``via="api"``) when it is a
        valid one, a locked client refused as it refuses it (Throttled); None for any
        other token, which :meth:`authenticate` then refuses, counts and audits. Writes
        nothing, so it can be tried first where the database must not be waited for (under
        ``Store.loop_only``, where keys to read again raise ``WouldBlock``)."""
        if not token:
            return None
        if throttle is not None:
            throttle.check(client, None)
        try:
            return self._authenticate(token, _key_id(token))
        except Unauthorized:
            return None

    def _authenticate(self, token: str, key_id: str | None) -> ApiKey:
        if key_id is None:
            raise Unauthorized("the API key is malformed", says=msg("error.access.key_malformed"))
        row = self.keys().get(key_id)
        if row is None:
            raise Unauthorized("the API key is not valid", says=msg("error.access.key_invalid"))
        if not hmac.compare_digest(row["secret_hash"], _hash(token.strip())):
            # the same words (and message) as an unknown key: no key oracle
            raise _WrongSecret("the API key is not valid", says=msg("error.access.key_invalid"))
        if row["revoked_us"] is not None:
            raise _WrongSecret("the API key was revoked", says=msg("error.access.key_revoked"))
        return ApiKey.of(row)

    def keys(self) -> dict[str, ApiKeyRow]:
        """Every key's row (hashed secret, role, revocation) by id, as every process sees it
        now: read again as soon as any process creates or revokes a key (a revoked key
        fails its next request)."""
        return self.store.cached("api_keys", lambda u: {
            row["id"]: row for row in u.access.api_keys()})

    def audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        with self.store.access() as tables:
            append_audit(tables, self.clock.now(), actor, action, target, detail)

    def audit_log(self, after: int = 0, limit: int = 1000, action: str = "") -> list[AuditRow]:
        """Up to ``limit`` records after ``after``; with ``action``, of the actions that
        start with it."""
        with self.store.access(write=False) as tables:
            return tables.audit(after, limit, action)

    def check_audit(self, anchor: tuple[int, str] | None = None) -> AuditCheck:
        """Recompute the chain: every record's hash from its content and its predecessor's,
        the sequence without gaps; and, given the head kept elsewhere (``anchor``), that the
        log still holds that record with that hash (a deleted tail shows only there)."""
        problems: list[AuditProblem] = []
        prev, expect, records, at_anchor = "0" * 64, 1, 0, None
        with self.store.access(write=False) as tables:
            after, bad = 0, None
            while rows := _audit_page(tables, after):
                rows, bad = rows if isinstance(rows, tuple) else (rows, None)
                for row in rows:
                    seq = int(row["seq"])
                    if seq != expect:
                        problems.append(AuditProblem(expect, f"audit record {expect} is "
                                                     "missing" + (f" (and up to {seq - 1})"
                                                                  if seq - 1 > expect else "")))
                    if row["prev_hash"] != prev or _audit_hash(prev, row) != row["hash"]:
                        problems.append(AuditProblem(seq, f"audit record {seq} was altered "
                                                     "or reordered"))
                    if anchor is not None and seq == anchor[0]:
                        at_anchor = row["hash"]
                    prev, expect, records = row["hash"], seq + 1, records + 1
                if bad is not None:  # the replay stops at a record kinko cannot read
                    problems.append(AuditProblem(bad.seq or expect, bad.message))
                    break
                after = int(rows[-1]["seq"])
        head = (expect - 1, prev)
        if anchor is not None:
            seq, wanted = anchor
            if seq > head[0]:
                problems.append(AuditProblem(seq, f"audit record {seq}, the anchored head, is "
                                             f"missing: the log ends at record {head[0]}, so "
                                             "records were deleted from its end"))
            elif seq > 0 and at_anchor != wanted:  # seq 0: anchored while still empty
                problems.append(AuditProblem(seq, f"audit record {seq} is not the anchored "
                                             f"head {wanted[:16]}…: the log was rewritten"))
        return AuditCheck(records, head, problems)

    def verify_audit(self, anchor: tuple[int, str] | None = None) -> list[str]:
        """Problems in the audit chain (empty when intact); see :meth:`check_audit`."""
        return [p.message for p in self.check_audit(anchor).problems]
