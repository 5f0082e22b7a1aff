"""API keys with roles, and the hash-chained audit log of every change made through them.

A key is shown once when created (``kinko_<id>_<secret>``); kinko stores only the SHA-256
of it, so a database dump reveals no usable key. Roles:

- ``auditor``: read everything;
- ``operator``: also request and reject withdrawals, trip breakers, propose resets;
- ``approver``: also approve withdrawals and breaker resets (never their own requests);
- ``admin``: everything, including creating and revoking keys.

Every mutating call appends to the audit log: who, what, on what, with what outcome; each
record carries the hash of the one before, so an edit or deletion is detected by
:meth:`Access.verify_audit`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from kinko.errors import BadInput, KinkoError
from kinko.ports import Clock, Store

__all__ = ["PERMISSIONS", "ROLES", "Access", "ApiKey", "Forbidden", "Unauthorized"]

Role = Literal["auditor", "operator", "approver", "admin"]
ROLES: tuple[Role, ...] = ("auditor", "operator", "approver", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "operate": frozenset({"operator", "admin"}),
    "approve": frozenset({"approver", "admin"}),
    "admin": frozenset({"admin"}),
}


class Unauthorized(KinkoError):
    code = "unauthorized"
    exit_code = 2


class Forbidden(KinkoError):
    code = "forbidden"
    exit_code = 2


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role

    def require(self, permission: str) -> None:
        if self.role not in PERMISSIONS[permission]:
            raise Forbidden(f"key {self.name!r} has role {self.role}; this needs "
                            f"{' or '.join(sorted(PERMISSIONS[permission]))}")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit_hash(prev: str, row: dict[str, Any]) -> str:
    body = json.dumps({k: row[k] for k in ("seq", "actor", "action", "target", "detail")}
                      | {"at": row["at"].isoformat()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"kinko-audit-v1\n{prev}\n{body}".encode()).hexdigest()


class Access:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def create_key(self, name: str, role: str) -> tuple[ApiKey, str]:
        """A new key; the token is returned once and never stored."""
        if role not in ROLES:
            raise BadInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not name.strip():
            raise BadInput("a key needs a name (whose key it is)")
        key_id = secrets.token_hex(6)
        token = f"kinko_{key_id}_{secrets.token_urlsafe(32)}"
        with self.store.access() as tables:
            tables.put_key(key_id, name.strip(), role, _hash(token), self.clock.now())
        self.audit(f"cli:{name.strip()}", "apikey.create", key_id, {"role": role})
        return ApiKey(key_id, name.strip(), role), token

    def revoke(self, key_id: str, by: str) -> None:
        with self.store.access() as tables:
            if not tables.revoke(key_id, self.clock.now()):
                raise BadInput(f"no active key {key_id!r}")
        self.audit(by, "apikey.revoke", key_id, {})

    def api_keys(self) -> list[dict[str, Any]]:
        with self.store.access(write=False) as tables:
            return [{k: v for k, v in row.items() if k != "secret_hash"}
                    for row in tables.api_keys()]

    def authenticate(self, token: str | None) -> ApiKey:
        if not token:
            raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != "kinko":
            raise Unauthorized("the API key is malformed")
        with self.store.access(write=False) as tables:
            row = tables.key(parts[1])
        if row is None or not hmac.compare_digest(row["secret_hash"], _hash(token.strip())):
            raise Unauthorized("the API key is not valid")
        if row["revoked_us"] is not None:
            raise Unauthorized("the API key was revoked")
        return ApiKey(row["id"], row["name"], row["role"])

    def audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        with self.store.access() as tables:
            seq, prev = tables.audit_head()
            row: dict[str, Any] = {"seq": seq + 1, "at": self.clock.now(), "actor": actor,
                                   "action": action, "target": target,
                                   "detail": json.dumps(detail, sort_keys=True, default=str,
                                                        ensure_ascii=False)}
            row["prev_hash"] = prev
            row["hash"] = _audit_hash(prev, row)
            tables.put_audit(row)

    def audit_log(self, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self.store.access(write=False) as tables:
            return tables.audit(after, limit)

    def verify_audit(self) -> list[str]:
        """Problems in the audit chain (empty when intact)."""
        problems = []
        prev, expect = "0" * 64, 1
        with self.store.access(write=False) as tables:
            rows = tables.audit(0, 10**9)
        for row in rows:
            if row["seq"] != expect:
                problems.append(f"audit record {expect} is missing")
            if row["prev_hash"] != prev or _audit_hash(prev, row) != row["hash"]:
                problems.append(f"audit record {row['seq']} was altered or reordered")
            prev, expect = row["hash"], row["seq"] + 1
        return problems
