"""The policy co-signer's rules: when a second key signs a Safe transaction. Pure, no I/O.

A hot wallet is a 2-of-3 Safe: the operations key (kinko's), the co-signer's key and an
offline recovery key. The operations key alone moves nothing; the co-signer signs a SafeTx
only when it matches, field by field, a movement kinko approved:

- a **withdrawal** screened ``allow``, or held for review and approved by the quorum (its
  approvers' Ed25519 signatures are checked again here, against the policy version the
  review was made under), in state ``allowed``, ``approved`` or ``sending``, whose hold in
  the ledger is still open;
- an approved **sweep** (hot → a registered warm or cold wallet of the asset) or **refill**
  (a warm or cold wallet → a registered hot wallet of the asset), quorum-approved and not
  expired (at its stored expiry or, if earlier, once older than the policy version in force
  allows, as kinko decides it when it executes), or an **emergency sweep** the policy
  pre-authorised (``emergency_sweep = "auto"``) for an incident that is open or contained.

The SafeTx must pay exactly that: for a native coin ``to`` the destination, ``value`` the
amount, no data; for a token ``to`` the registered token contract, ``value`` 0 and ``data``
exactly ``transfer(destination, amount)``; CALL only, no gas refunds, on the co-signer's
chain, from a Safe that is an address of the wallet paying the request and that the
co-signer's *own* settings list for that asset (with the token it knows for it). A
withdrawal, a sweep or an emergency sweep never pays one of the exchange's own hot wallets;
a refill always does. While the asset's or the global breaker is tripped nothing is signed,
except an emergency sweep to one of the cold addresses in the co-signer's own settings that
is also a registered warm or cold wallet of the asset: it exists to move what is left out of
the thief's reach. Every signed amount counts toward the Safe's rolling limit (the
co-signer's own settings, its own records), except moves to the co-signer's own cold
addresses (sweeps and emergency sweeps), which cannot take money out of the exchange.

Anything else is refused with a stable reason code (:data:`REASONS`) and a sentence that
names the field, the request and the value::

    >>> tx = SafeTx(safe="0x" + "11" * 20, chain_id=1, to="0x" + "22" * 20, value=5,
    ...             data=b"", nonce=0)
    >>> request = parse_request({"kind": "withdrawal", "id": "W-1",
    ...                          "safe_tx": safe_tx_json(tx), "safe_tx_hash": "0x" + tx.hash.hex()})
    >>> request.key
    'withdrawal:W-1'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kinko.domain.addresses import canonical_address
from kinko.domain.approvals import Approval, Proposal, check_approval, lapses_at
from kinko.domain.custody import Wallet
from kinko.domain.erc20 import TRANSFER_SELECTOR, transfer_data
from kinko.domain.messages import Message, Time, Units, joined, msg
from kinko.domain.money import Asset, AssetRegistry, format_units, parse_money
from kinko.domain.nem_tx import NemTransfer, read_transfer
from kinko.domain.policy import Policy
from kinko.domain.policy_lock import DEFAULT_TIME_LOCK, VersionFacts, effective_version
from kinko.domain.safe import ZERO_ADDRESS, SafeTx
from kinko.domain.states import ACTIVE_INCIDENT_STATES, WithdrawalState
from kinko.errors import ApprovalError, BadInput, CosignRefused, KinkoError, SafeTxRefused

__all__ = [
    "ENVIRONMENT_REASONS",
    "MAX_NEM_DEADLINE",
    "REASONS",
    "CosignPolicy",
    "CosignRequest",
    "KinkoFacts",
    "Movement",
    "NemCosignRequest",
    "PolicyRecord",
    "ProposalFacts",
    "SafeLimit",
    "SafeState",
    "WithdrawalFacts",
    "check_nem_account",
    "check_nem_request",
    "check_nonce",
    "check_safe_state",
    "check_tx",
    "match_movement",
    "match_nem_movement",
    "nem_request_json",
    "parse_cosign_policy",
    "parse_nem_request",
    "parse_request",
    "policy_lineage",
    "refuse",
    "safe_tx_from_json",
    "safe_tx_json",
    "severity",
]

REASONS: dict[str, str] = {
    "unauthenticated": "the caller did not present the co-signer's token",
    "too_large": "the request is larger than the co-signer reads",
    "malformed": "the request cannot be read as a co-sign request",
    "wrong_hash": "the safeTxHash given is not the hash of the SafeTx given",
    "forbidden_tx": "a SafeTx kinko never signs (DELEGATECALL, gas refunds, a call to the Safe)",
    "wrong_chain": "another chain than the co-signer's",
    "unknown_safe": "a Safe the co-signer's settings do not list (for that asset)",
    "unknown_asset": "an asset kinko does not register",
    "unknown_token": "a token the co-signer's settings do not know for the asset",
    "no_such_request": "kinko has no such withdrawal or proposal",
    "request_state": "the request is not in a state that moves funds",
    "not_approved": "the quorum's approvals are missing or do not verify",
    "policy_not_in_force": "decided under a custody policy version that was not in force "
                           "then (a loosening still waiting for its time lock, or vetoed)",
    "expired": "the proposal expired",
    "hold_closed": "the withdrawal's hold is not open",
    "wrong_wallet": "the Safe is not the wallet that pays this request",
    "mismatch": "the SafeTx does not pay what kinko approved",
    "own_hot_wallet": "the destination is one of the exchange's own hot wallets",
    "breaker_tripped": "the asset's or the global breaker is tripped",
    "safe_config": "the Safe on chain is not one the co-signer can rely on",
    "nonce_used": "the Safe's nonce is already used or co-signed for another SafeTx",
    "nonce_too_far": "the nonce is further ahead of the Safe's than the co-signer allows",
    "already_signed": "the request was co-signed for another SafeTx",
    "over_limit": "the Safe's rolling limit would be exceeded",
    "kinko_unreachable": "the co-signer cannot read kinko's database",
    "chain_unreachable": "the co-signer cannot read the chain",
    "signer_unavailable": "the co-signer's key cannot sign now",
}
"""Every reason the co-signer refuses for, with what it means (the protocol's contract)."""

ENVIRONMENT_REASONS = frozenset({"kinko_unreachable", "chain_unreachable",
                                 "signer_unavailable"})
"""Refusals because something could not be checked: asking again later may succeed."""

REQUEST_KINDS = ("withdrawal", "proposal")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_HEX = re.compile(r"^0x([0-9a-fA-F]{2})*$")
_UINT256 = 1 << 256
_SAFE_TX_FIELDS = ("safe", "chain_id", "to", "value", "data", "operation", "safe_tx_gas",
                   "base_gas", "gas_price", "gas_token", "refund_receiver", "nonce")
_WITHDRAWAL_STATES: tuple[WithdrawalState, ...] = ("allowed", "approved", "sending")
_PROPOSAL_STATES = {"sweep": ("approved", "sending"), "refill": ("approved", "requested",
                                                                   "sending")}
_INCIDENT_OPEN = ACTIVE_INCIDENT_STATES


def refuse(reason: str, message: str, *, says: Message | None = None,
           **details: Any) -> CosignRefused:
    """The refusal for ``reason`` (one of :data:`REASONS`); ``says`` is ``message`` as a
    catalog message (:mod:`kinko.domain.messages`), else the reason code and its meaning."""
    assert reason in REASONS, reason
    return CosignRefused(message, says=says or msg("error.cosign.refusal", code=reason,
                                                   reason=msg(f"cosign.reason.{reason}")),
                         reason=reason, **details)


def severity(reason: str) -> str:
    """How loud a refusal's alert is: ``warning`` when something could not be checked (the
    co-signer failed closed), ``critical`` when the request itself was wrong."""
    return "warning" if reason in ENVIRONMENT_REASONS else "critical"


# ---------------------------------------------------------------------- the wire format


def safe_tx_json(tx: SafeTx) -> dict[str, Any]:
    """A SafeTx as the protocol carries it: addresses EIP-55, integers as decimal strings
    (uint256 does not fit JSON numbers), ``data`` 0x-hex, ``operation`` a number."""
    return {"safe": tx.safe, "chain_id": str(tx.chain_id), "to": tx.to,
            "value": str(tx.value), "data": "0x" + tx.data.hex(), "operation": tx.operation,
            "safe_tx_gas": str(tx.safe_tx_gas), "base_gas": str(tx.base_gas),
            "gas_price": str(tx.gas_price), "gas_token": tx.gas_token,
            "refund_receiver": tx.refund_receiver, "nonce": str(tx.nonce)}


def _uint(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 78:
        number = int(value)
    else:
        raise refuse("malformed", f"{where} must be a whole number (a decimal string), "
                                  f"not {_shown(value)}", field=where,
                     says=msg("error.cosign.not_whole", field=where, value=_shown(value)))
    if not 0 <= number < _UINT256:
        raise refuse("malformed", f"{where} does not fit a uint256", field=where,
                     says=msg("error.cosign.not_uint256", field=where))
    return number


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def _names(keys: list[str]) -> str:
    """Field names a caller sent, for a refusal's message (the log, the alert): a plain
    name as it is, anything else quoted and cut (no newline or control character of the
    caller's reaches a log line), at most five of them."""
    shown = [k if _NAME.fullmatch(k) else _shown(k) for k in keys[:5]]
    return ", ".join(shown) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def safe_tx_from_json(data: Any) -> SafeTx:
    """The SafeTx of a request: every field present (the no-refund fields too, so nothing
    is implied), nothing else; :class:`~kinko.errors.CosignRefused` (``malformed``) naming
    the field otherwise."""
    if not isinstance(data, Mapping):
        raise refuse("malformed", "safe_tx must be an object",
                     says=msg("error.cosign.safe_tx_object"))
    missing = [f for f in _SAFE_TX_FIELDS if f not in data]
    extra = sorted(str(k) for k in data if k not in _SAFE_TX_FIELDS)
    if missing or extra:
        raise refuse("malformed", "safe_tx: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else [])
            + ([f"unknown {_names(extra)}"] if extra else [])),
            says=msg("error.cosign.safe_tx_fields", missing=", ".join(missing),
                     unknown=_names(extra)) if missing and extra
            else msg("error.cosign.safe_tx_missing", missing=", ".join(missing)) if missing
            else msg("error.cosign.safe_tx_unknown", unknown=_names(extra)))
    raw = data["data"]
    if not isinstance(raw, str) or not _HEX.match(raw):
        raise refuse("malformed", "safe_tx.data must be 0x-hex bytes", field="data",
                     says=msg("error.cosign.safe_tx_data"))
    operation = data["operation"]
    if isinstance(operation, bool) or not isinstance(operation, int):
        raise refuse("malformed", "safe_tx.operation must be 0 or 1", field="operation",
                     says=msg("error.cosign.safe_tx_operation"))
    for name in ("safe", "to", "gas_token", "refund_receiver"):
        if not isinstance(data[name], str):
            raise refuse("malformed", f"safe_tx.{name} must be an address", field=name,
                         says=msg("error.cosign.safe_tx_address", field=name))
    try:
        return SafeTx(safe=data["safe"], chain_id=_uint(data["chain_id"], "safe_tx.chain_id"),
                      to=data["to"], value=_uint(data["value"], "safe_tx.value"),
                      data=bytes.fromhex(raw[2:]), nonce=_uint(data["nonce"], "safe_tx.nonce"),
                      operation=operation,
                      safe_tx_gas=_uint(data["safe_tx_gas"], "safe_tx.safe_tx_gas"),
                      base_gas=_uint(data["base_gas"], "safe_tx.base_gas"),
                      gas_price=_uint(data["gas_price"], "safe_tx.gas_price"),
                      gas_token=data["gas_token"], refund_receiver=data["refund_receiver"])
    except SafeTxRefused as exc:
        raise refuse("malformed", f"safe_tx: {exc.message}",
                     says=msg("error.cosign.safe_tx_refused", problem=exc.said())) from None


@dataclass(frozen=True)
class CosignRequest:
    """What a caller asks: co-sign ``tx`` for kinko's withdrawal or proposal ``id``."""

    kind: str  # withdrawal | proposal
    id: str
    tx: SafeTx

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "safe_tx": safe_tx_json(self.tx),
                "safe_tx_hash": "0x" + self.tx.hash.hex()}



def _request_head(body: Any, fields: tuple[str, ...]) -> tuple[str, str]:
    """A request's ``kind`` and ``id``, once ``body`` is a JSON object holding no field but
    those and ``fields``; :class:`~kinko.errors.CosignRefused` (``malformed``) otherwise."""
    if not isinstance(body, Mapping):
        raise refuse("malformed", "the request must be a JSON object",
                     says=msg("error.cosign.request_object"))
    extra = sorted(str(k) for k in body if k not in ("kind", "id", *fields))
    if extra:
        raise refuse("malformed", f"unknown field(s) {_names(extra)}",
                     says=msg("error.cosign.request_unknown", unknown=_names(extra)))
    kind, request_id = body.get("kind"), body.get("id")
    if kind not in REQUEST_KINDS:
        raise refuse("malformed", f"kind must be {' or '.join(REQUEST_KINDS)}, not "
                                  f"{_shown(kind)}", field="kind",
                     says=msg("error.cosign.request_kind", kinds=" / ".join(REQUEST_KINDS),
                              value=_shown(kind)))
    if not isinstance(request_id, str) or not _ID.match(request_id):
        raise refuse("malformed", f"id must be 1-128 letters, digits or ._:@- , not "
                                  f"{_shown(request_id)}", field="id",
                     says=msg("error.cosign.request_id", value=_shown(request_id)))
    return str(kind), request_id

def parse_request(body: Any) -> CosignRequest:
    """A request as the protocol carries it (see ``docs/cosign.md``): ``kind``, ``id``,
    ``safe_tx`` and the caller's ``safe_tx_hash``, which must be the SafeTx's own hash.
    :class:`~kinko.errors.CosignRefused` (``malformed`` or ``wrong_hash``) otherwise."""
    kind, request_id = _request_head(body, ("safe_tx", "safe_tx_hash"))
    tx = safe_tx_from_json(body.get("safe_tx"))
    claimed = body.get("safe_tx_hash")
    if not isinstance(claimed, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", claimed):
        raise refuse("malformed", "safe_tx_hash must be 0x and 64 hex digits",
                     field="safe_tx_hash", says=msg("error.cosign.hash_form"))
    if claimed.lower() != "0x" + tx.hash.hex():
        raise refuse("wrong_hash", f"safe_tx_hash {claimed} is not the hash of the SafeTx "
                     f"given (0x{tx.hash.hex()}): the caller and the co-signer do not see the "
                     "same transaction", field="safe_tx_hash",
                     says=msg("error.cosign.wrong_hash", claimed=claimed,
                              hash="0x" + tx.hash.hex()))
    return CosignRequest(str(kind), request_id, tx)


# ---------------------------------------------------------------------- its own settings


@dataclass(frozen=True)
class SafeLimit:
    """One Safe the co-signer signs for: its asset, the token it knows for that asset (None
    for the native coin) and the most it signs away in any rolling ``window``."""

    address: str
    asset: str
    limit: int  # minor units
    window: timedelta
    token: str | None = None


@dataclass(frozen=True)
class CosignPolicy:
    """The co-signer's own rules, from its own settings file (not from kinko's database,
    which it only reads): its chain, the Safes it signs for with a limit per asset (a Safe
    may hold several), the cold addresses sweeps may go to without counting, and how far
    ahead a nonce may be."""

    chain: str
    safes: Mapping[str, Mapping[str, SafeLimit]]  # lower-case address -> asset -> limit
    cold: Mapping[str, frozenset[str]] = field(default_factory=dict)  # asset -> lower-case
    nonce_window: int = 16
    policy_anchor: str = ""  # the digest of a policy version it trusts; "": kinko's as stored
    time_lock: timedelta = DEFAULT_TIME_LOCK  # the least a loosening policy version waits

    def limits(self, address: str) -> Mapping[str, SafeLimit]:
        """The Safe's limits by asset; empty for a Safe the settings do not list."""
        return self.safes.get(address.lower(), {})

    def limit(self, address: str, asset: str) -> SafeLimit | None:
        return self.limits(address).get(asset)

    def is_cold(self, asset: str, address: str) -> bool:
        return address.lower() in self.cold.get(asset, frozenset())


_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")


def _duration(text: Any, where: str) -> timedelta:
    match = _DURATION.match(str(text).strip())
    if match is None:
        raise ValueError(f"{where}: {text!r} is not a window such as 30m, 24h or 7d")
    number, unit = int(match[1]), match[2]
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: number})


def parse_cosign_policy(data: Mapping[str, Any], registry: AssetRegistry, where: str, *,
                        chain: str = "ethereum", nonce_window: int = 16,
                        policy_anchor: str = "",
                        time_lock: timedelta = DEFAULT_TIME_LOCK) -> CosignPolicy:
    """The ``[[safes]]`` and ``[cold]`` tables of the co-signer's settings file::

        [[safes]]
        address = "0x…"          # the Safe (EIP-55)
        asset = "XEM"
        token = "0x…"            # the asset's token contract (omit for the native coin)
        limit = "2000000 XEM"    # the most signed away in any window
        window = "24h"

        [cold]
        XEM = ["0x…"]            # offline addresses sweeps may go to without counting

    Addresses are read in ``chain``'s canonical form. ``ValueError`` naming ``where`` and
    the entry on anything wrong."""
    canon = canonical_address
    safes: dict[str, dict[str, SafeLimit]] = {}
    raw_safes = data.get("safes") or []
    if not isinstance(raw_safes, list):
        raise ValueError(f"{where}: safes must be an array of tables ([[safes]])")
    for i, raw in enumerate(raw_safes):
        label = f"{where}: safes[{i}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{label} must be a table")
        unknown = sorted(set(raw) - {"address", "asset", "token", "limit", "window"})
        if unknown:
            raise ValueError(f"{label}: unknown key(s) {', '.join(unknown)}")
        try:
            address = canon(str(raw["address"]), chain)
            asset = registry[str(raw["asset"])]
            money = parse_money(str(raw["limit"]), registry)
        except KeyError as missing:
            raise ValueError(f"{label} is missing {missing}") from None
        except KinkoError as exc:
            raise ValueError(f"{label}: {exc.message}") from None
        if money.asset != asset.symbol:
            raise ValueError(f"{label}: limit {raw['limit']!r} is not in {asset.symbol}")
        if money.units < 0:
            raise ValueError(f"{label}: limit must not be negative")
        token = raw.get("token")
        try:
            token = canon(str(token), chain) if token else None
        except KinkoError as exc:
            raise ValueError(f"{label}.token: {exc.message}") from None
        by_asset = safes.setdefault(address.lower(), {})
        if asset.symbol in by_asset:
            raise ValueError(f"{label}: Safe {address} is listed twice for {asset.symbol}")
        by_asset[asset.symbol] = SafeLimit(address, asset.symbol, money.units,
                                           _duration(raw.get("window", "24h"),
                                                     f"{label}.window"), token)
    cold: dict[str, frozenset[str]] = {}
    raw_cold = data.get("cold") or {}
    if not isinstance(raw_cold, Mapping):
        raise ValueError(f"{where}: cold must be a table of ASSET = [addresses]")
    for symbol, addresses in raw_cold.items():
        try:
            asset = registry[str(symbol)]
            if not isinstance(addresses, list):
                raise ValueError(f"{where}: cold.{symbol} must be a list of addresses")
            cold[asset.symbol] = frozenset(canon(str(a), chain).lower() for a in addresses)
        except KinkoError as exc:
            raise ValueError(f"{where}: cold.{symbol}: {exc.message}") from None
    anchor = policy_anchor.strip().lower()
    if anchor and not re.fullmatch(r"[0-9a-f]{64}", anchor):
        raise ValueError(f"{where}: policy_anchor must be a policy digest (64 hex digits)")
    return CosignPolicy(chain, safes, cold, nonce_window, anchor, time_lock)


# ---------------------------------------------------------------------- what it reads


@dataclass(frozen=True)
class WithdrawalFacts:
    """A withdrawal as kinko's database has it."""

    id: str
    asset: str
    amount: int
    destination: str
    wallet: str
    state: str
    outcome: str  # the screening decision: allow, review, block
    hold_state: str | None  # pending, posted, voided, expired; None: no hold
    hold_expires: datetime | None
    decided_under: int | None = None  # the policy version its screening decision names
    requested_at: datetime | None = None  # when it was screened


@dataclass(frozen=True)
class ProposalFacts:
    """A proposal with its approvals and the policy version it was made under."""

    proposal: Proposal
    state: str
    approvals: tuple[Approval, ...]
    policy: Policy | None  # the version the proposal names; None if kinko has none
    incident_state: str | None = None  # an emergency sweep's incident, if any


@dataclass(frozen=True)
class PolicyRecord:
    """One stored policy version and the proposal that activated it (none for the first,
    loaded as a bootstrap)."""

    version: int
    policy: Policy | None  # parsed from the stored body; None if it cannot be read
    activated_by: str  # "bootstrap" or the activating proposal's id
    activation: ProposalFacts | None = None


@dataclass(frozen=True)
class KinkoFacts:
    """Everything the co-signer reads from kinko's database for one request, in one
    consistent snapshot."""

    withdrawal: WithdrawalFacts | None
    proposal: ProposalFacts | None  # the proposal asked about, or a withdrawal's review
    assets: Mapping[str, Asset]
    wallets: Sequence[Wallet]
    tripped: frozenset[str]  # breaker scopes: asset symbols, "*" global
    policies: Mapping[int, PolicyRecord] = field(default_factory=dict)  # by version
    # every stored policy version with its vetoes: which one was in force when
    versions: Sequence[VersionFacts] = ()


@dataclass(frozen=True)
class SafeState:
    """A Safe as the chain has it now."""

    address: str
    version: str
    nonce: int
    owners: tuple[str, ...]
    threshold: int
    modules: tuple[str, ...]
    guard: str
    singleton_ok: bool  # the singleton's code is the audited SafeL2 kinko ships


@dataclass(frozen=True)
class Movement:
    """What a request approved moving, checked against the SafeTx."""

    kind: str  # withdrawal, sweep, refill
    asset: Asset
    amount: int
    source: Wallet
    destination: str
    authorised: str  # how: "screened allow (policy v3)", "quorum alice, bob (policy v3)" ...
    emergency: str | None = None  # the incident an emergency sweep answers
    counts: bool = True  # toward the Safe's rolling limit


# ---------------------------------------------------------------------- the checks


def check_tx(request: CosignRequest, policy: CosignPolicy,
             chain_id: int) -> Mapping[str, SafeLimit]:
    """What needs nothing but the request and the co-signer's settings: kinko's signing
    rules, the chain, a Safe the settings list. The Safe's limits by asset."""
    tx = request.tx
    try:
        tx.check()
    except SafeTxRefused as exc:
        raise refuse("forbidden_tx", exc.message, says=exc.said(), **exc.details) from None
    if tx.chain_id != chain_id:
        raise refuse("wrong_chain", f"the SafeTx is for chain {tx.chain_id}; the co-signer "
                     f"signs for chain {chain_id} ({policy.chain}) only", field="chain_id",
                     says=msg("error.cosign.wrong_chain_id", chain=str(tx.chain_id),
                              ours=str(chain_id), name=policy.chain[:40]))
    limits = policy.limits(tx.safe)
    if not limits:
        raise refuse("unknown_safe", f"Safe {tx.safe} is not in the co-signer's settings "
                     "([[safes]]): it signs for no other Safe", safe=tx.safe,
                     says=msg("error.cosign.unknown_safe", safe=tx.safe[:80]))
    return limits


def _in_force(kinko: KinkoFacts, version: int | None, at: datetime, now: datetime,
              lock: timedelta, what: str, said: Message | None = None) -> None:
    """Policy ``version`` was the one in force at ``at`` (never later than ``now``), by the
    co-signer's own reckoning from the stored versions, their quorum times, their signed
    proposals and the vetoes whose signatures verify, with at least its own time lock:
    :func:`refuse` (``policy_not_in_force``) otherwise: a loosening still waiting, or
    vetoed, allows nothing. ``said`` is ``what`` as a catalog message (else ``what``)."""
    when = min(at, now)
    registry = AssetRegistry(kinko.assets.values())
    found = effective_version(kinko.versions, when, registry, min_lock=lock)
    if version is None or found is None or found.version != version:
        shown = "none" if found is None else f"version {found.version}"
        hours = f"{lock.total_seconds() / 3600:g}"
        raise refuse("policy_not_in_force", f"{what} was decided under policy version "
                     f"{version}, but at {when.isoformat()} the version in force was {shown} "
                     f"(a version that loosens anything waits {hours} hours after its "
                     "quorum, and any approver can veto it meanwhile)", policy=version,
                     in_force=None if found is None else found.version,
                     says=msg("error.cosign.policy_out_of_force", what=said or what[:200],
                              version=str(version), at=Time(when), hours=hours,
                              in_force=msg("error.cosign.version_none") if found is None
                              else msg("error.cosign.version", version=str(found.version))))


def _lapses(kinko: KinkoFacts, proposal: Proposal, now: datetime, lock: timedelta) -> datetime:
    """When ``proposal`` expires, as kinko decides it when it executes
    (:func:`~kinko.domain.approvals.lapses_at`): its stored expiry or, if earlier, once
    older than the policy version in force ``now`` allows, that version found by the
    co-signer's own reckoning (:func:`_in_force`'s, with its own time lock) from the stored
    versions, not from a flag in kinko's database."""
    registry = AssetRegistry(kinko.assets.values())
    found = effective_version(kinko.versions, now, registry, min_lock=lock)
    return lapses_at(proposal, None if found is None else found.policy)


def _verified_quorum(facts: ProposalFacts, what: str, kinko: KinkoFacts,
                     anchor: str) -> str:
    """The approvers whose signatures verify, as kinko checked them when they were given,
    under the policy version the proposal was made under — itself descended from the
    co-signer's anchored policy when it has one; :func:`refuse` (``not_approved``) short
    of the quorum."""
    policy = facts.policy
    proposal = facts.proposal
    if policy is None or policy.version != proposal.policy_version:
        raise refuse("not_approved", f"{what}: kinko has no policy version "
                     f"{proposal.policy_version}, under which it was proposed",
                     says=msg("error.cosign.proposed_under_missing", what=what[:200],
                              version=str(proposal.policy_version)))
    if anchor:
        _descends(kinko.policies, policy.version, anchor, what)
    return _quorum(proposal, facts.approvals, policy, what)


def _quorum(proposal: Proposal, approvals: Sequence[Approval], policy: Policy,
            what: str, said: Message | None = None) -> str:
    """The approvers of ``proposal`` whose signatures verify under ``policy``, the version
    it was made under, each given before the proposal expired under that version
    (:func:`~kinko.domain.approvals.lapses_at`): kinko records an approval only while the
    version a proposal was made under is in force, and refuses it once the proposal is
    older than that version allows, whatever expiry it was stored with."""
    valid: list[Approval] = []
    lapsed = lapses_at(proposal, policy)
    problems: list[str] = []
    problems_said: list[Message] = []
    for approval in sorted(approvals, key=lambda a: a.approved_at):
        if approval.approver.startswith("policy: "):
            continue  # a pre-authorisation, not a signature: see the emergency sweep
        try:
            check_approval(proposal, policy, approval, valid, approval.approved_at,
                           lapsed=lapsed)
        except ApprovalError as exc:
            problems.append(exc.message)
            problems_said.append(exc.said())
            continue
        valid.append(approval)
    if len({a.approver for a in valid}) < policy.quorum:
        raise refuse("not_approved", f"{what} has {len(valid)} verified approval(s) of the "
                     f"{policy.quorum} policy version {policy.version} needs"
                     + (f" ({'; '.join(problems[:3])})" if problems else ""),
                     approvals=len(valid), quorum=policy.quorum,
                     says=msg("error.cosign.short_of_quorum_because", what=said or what[:200],
                              approvals=len(valid), quorum=policy.quorum,
                              version=str(policy.version),
                              problems=joined(problems_said[:3])) if problems_said
                     else msg("error.cosign.short_of_quorum", what=said or what[:200],
                              approvals=len(valid), quorum=policy.quorum,
                              version=str(policy.version)))
    names = ", ".join(sorted({a.approver for a in valid}))
    return f"quorum {names} (policy v{policy.version})"


def _descends(records: Mapping[int, PolicyRecord], version: int, anchor: str,
              what: str, said: Message | None = None) -> None:
    """Policy ``version`` is the anchored one or was activated, version by version, by
    policy proposals the quorum of the version before approved (signatures verified), down
    to the anchored one: a policy written into kinko's database without the approvers'
    keys does not descend from it."""
    at = version
    while True:
        record = records.get(at)
        if record is None or record.policy is None or record.policy.version != at:
            raise refuse("not_approved", f"{what}: policy version {at} is missing from "
                         "kinko's database or cannot be read", policy=at,
                         says=msg("error.cosign.policy_missing", what=said or what[:200],
                                  version=str(at)))
        if record.policy.digest == anchor:
            return
        activation = record.activation
        if activation is None:
            raise refuse("not_approved", f"{what}: policy version {at} "
                         f"({record.activated_by}) does not descend from the policy the "
                         "co-signer trusts (policy_anchor)", policy=at,
                         says=msg("error.cosign.policy_not_descended", what=said or what[:200],
                                  version=str(at), by=str(record.activated_by)[:200]))
        proposal = activation.proposal
        payload = proposal.payload
        if proposal.kind != "policy" or payload.get("version") != at \
                or payload.get("digest") != record.policy.digest \
                or not proposal.policy_version < at:
            raise refuse("not_approved", f"{what}: policy version {at} was not activated by "
                         f"the proposal it names ({proposal.id})", policy=at,
                         says=msg("error.cosign.policy_not_activated", what=said or what[:200],
                                  version=str(at), proposal=proposal.id[:128]))
        before = records.get(proposal.policy_version)
        if before is None or before.policy is None:
            raise refuse("not_approved", f"{what}: policy version {at} was approved under "
                         f"version {proposal.policy_version}, which kinko has not got",
                         policy=at,
                         says=msg("error.cosign.policy_approved_under_missing",
                                  what=said or what[:200], version=str(at),
                                  under=str(proposal.policy_version)))
        _quorum(proposal, activation.approvals, before.policy, f"policy version {at}",
                msg("error.cosign.what.policy", version=str(at)))
        at = proposal.policy_version


def policy_lineage(records: Mapping[int, PolicyRecord], version: int, anchor: str) -> str:
    """``"anchor"``, ``"yes"`` or why policy ``version`` does not descend from ``anchor``."""
    record = records.get(version)
    if record is not None and record.policy is not None and record.policy.digest == anchor:
        return "anchor"
    try:
        _descends(records, version, anchor, f"policy version {version}",
                  msg("error.cosign.what.policy", version=str(version)))
    except CosignRefused as exc:
        return f"no: {exc.message}"
    return "yes"


def _withdrawal(facts: KinkoFacts, request: CosignRequest, now: datetime,
                anchor: str = "", lock: timedelta = DEFAULT_TIME_LOCK) -> Movement:
    w = facts.withdrawal
    if w is None:
        raise refuse("no_such_request", f"kinko has no withdrawal {request.id!r}",
                     request=request.key,
                     says=msg("error.cosign.no_withdrawal", id=request.id[:128]))
    if w.state not in _WITHDRAWAL_STATES:
        raise refuse("request_state", f"withdrawal {w.id} is {w.state}; the co-signer signs "
                     f"only a withdrawal that is {', '.join(_WITHDRAWAL_STATES)}",
                     state=w.state, says=msg("error.cosign.withdrawal_state", id=w.id[:128],
                                             state=w.state,
                                             states=", ".join(_WITHDRAWAL_STATES)))
    asset = _asset(facts, w.asset)
    if w.outcome == "allow":
        _in_force(facts, w.decided_under, w.requested_at or now, now, lock,
                  f"withdrawal {w.id}'s screening",
                  msg("error.cosign.what.screening", id=w.id[:128]))
        authorised = f"screened allow (policy v{w.decided_under})"
    elif w.outcome == "review" and facts.proposal is not None:
        _same_withdrawal(facts.proposal.proposal, w, asset)
        review = facts.proposal.proposal
        authorised = _verified_quorum(facts.proposal, f"withdrawal {w.id}", facts, anchor)
        _in_force(facts, review.policy_version, review.created_at, now, lock,
                  f"withdrawal {w.id}'s review {review.id}",
                  msg("error.cosign.what.review", id=w.id[:128], review=review.id[:128]))
    else:
        raise refuse("not_approved", f"withdrawal {w.id} was screened {w.outcome!r} and has "
                     "no approved review", outcome=w.outcome,
                     says=msg("error.cosign.not_reviewed", id=w.id[:128],
                              outcome=str(w.outcome)[:40]))
    if w.hold_state != "pending" or (w.hold_expires is not None and now >= w.hold_expires):
        state = w.hold_state if w.hold_state != "pending" else "expired"
        raise refuse("hold_closed", f"the hold of withdrawal {w.id} is "
                     f"{state or 'missing'}: its funds are no longer reserved",
                     hold=state or "missing",
                     says=msg("error.cosign.hold_closed", id=w.id[:128],
                              state=(state or "missing")[:40]))
    source = _wallet(facts, w.wallet, asset, f"withdrawal {w.id}")
    return Movement("withdrawal", asset, w.amount, source, w.destination, authorised)


def _same_withdrawal(proposal: Proposal, w: WithdrawalFacts, asset: Asset) -> None:
    """The review the approvers signed is of this withdrawal as it stands: what they
    approved is the proposal's payload, not the withdrawal's row."""
    payload = proposal.payload
    try:
        same = (proposal.kind == "withdrawal" and payload.get("withdrawal") == w.id
                and payload.get("asset") == w.asset and int(str(payload["amount"])) == w.amount
                and str(payload["destination"]).lower() == w.destination.lower())
    except (KeyError, ValueError):
        same = False
    if not same:
        raise refuse("not_approved", f"the review {proposal.id} the approvers signed is not "
                     f"of withdrawal {w.id} as kinko's database has it now "
                     f"({format_units(w.amount, asset)} {asset.symbol} to "
                     f"{w.destination})", field="withdrawal",
                     says=msg("error.cosign.review_differs", review=proposal.id[:128],
                              id=w.id[:128], amount=Units(w.amount, asset.symbol,
                                                          asset.decimals),
                              destination=w.destination[:80]))


def _proposal(facts: KinkoFacts, request: CosignRequest, now: datetime,
              anchor: str = "", lock: timedelta = DEFAULT_TIME_LOCK) -> Movement:
    p = facts.proposal
    if p is None:
        raise refuse("no_such_request", f"kinko has no proposal {request.id!r}",
                     request=request.key,
                     says=msg("error.cosign.no_proposal", id=request.id[:128]))
    proposal = p.proposal
    if proposal.kind not in _PROPOSAL_STATES:
        raise refuse("request_state", f"proposal {proposal.id} is a {proposal.kind}, which "
                     "moves no funds through a Safe: withdrawals are asked for by their own "
                     "id", kind=proposal.kind,
                     says=msg("error.cosign.proposal_kind", id=proposal.id[:128],
                              kind=proposal.kind[:40]))
    states = _PROPOSAL_STATES[proposal.kind]
    if p.state not in states:
        raise refuse("request_state", f"{proposal.kind} {proposal.id} is {p.state}; the "
                     f"co-signer signs it only while it is {', '.join(states)}", state=p.state,
                     says=msg("error.cosign.proposal_state", kind=proposal.kind[:40],
                              id=proposal.id[:128], state=str(p.state)[:40],
                              states=", ".join(states)))
    # its stored expiry, or sooner the lifetime the policy in force grants: what kinko
    # refuses to execute, the co-signer does not sign
    lapsed = _lapses(facts, proposal, now, lock)
    if now >= lapsed:
        raise refuse("expired", f"{proposal.kind} {proposal.id} expired at "
                     f"{lapsed.isoformat()}",
                     says=msg("error.cosign.proposal_expired", kind=proposal.kind[:40],
                              id=proposal.id[:128], at=Time(lapsed)))
    payload = proposal.payload
    asset = _asset(facts, str(payload.get("asset")))
    emergency = payload.get("emergency")
    emergency = str(emergency) if emergency else None
    if emergency is not None and proposal.kind == "sweep" and _preauthorised(p):
        if anchor:
            assert p.policy is not None
            _descends(facts.policies, p.policy.version, anchor,
                      f"emergency sweep {proposal.id}",
                      msg("error.cosign.what.emergency", id=proposal.id[:128]))
        if p.incident_state not in _INCIDENT_OPEN:
            raise refuse("not_approved", f"emergency sweep {proposal.id} answers incident "
                         f"{emergency}, which is {p.incident_state or 'unknown to kinko'}",
                         says=msg("error.cosign.incident_closed", id=proposal.id[:128],
                                  incident=emergency[:128], state=str(p.incident_state)[:40])
                         if p.incident_state else
                         msg("error.cosign.incident_unknown", id=proposal.id[:128],
                             incident=emergency[:128]))
        assert p.policy is not None
        authorised = f"pre-authorised by policy v{p.policy.version} for {emergency}"
    else:
        authorised = _verified_quorum(p, f"{proposal.kind} {proposal.id}", facts, anchor)
    _in_force(facts, proposal.policy_version, proposal.created_at, now, lock,
              f"{proposal.kind} {proposal.id}")
    try:
        amount = int(str(payload["amount"]))
        source = _wallet(facts, str(payload["from_wallet"]), asset,
                         f"{proposal.kind} {proposal.id}")
        target = _wallet(facts, str(payload["to_wallet"]), asset,
                         f"{proposal.kind} {proposal.id}")
        destination = str(payload["to_address"])
    except (KeyError, ValueError):
        raise refuse("request_state", f"{proposal.kind} {proposal.id} does not name an "
                     "amount, its wallets and a destination address",
                     says=msg("error.cosign.proposal_incomplete", kind=proposal.kind[:40],
                              id=proposal.id[:128])) from None
    if not _has(target, destination):
        raise refuse("mismatch", f"{proposal.kind} {proposal.id}: {destination} is not an "
                     f"address of wallet {target.name}", field="to",
                     says=msg("error.cosign.not_wallet_address", kind=proposal.kind[:40],
                              id=proposal.id[:128], address=destination[:80],
                              wallet=target.name[:80]))
    refill = proposal.kind == "refill"
    if (target.tier == "hot") != refill or source.tier == ("hot" if refill else "cold"):
        rule = "from warm or cold to hot" if refill else "from hot or warm to warm or cold"
        names = {"kind": proposal.kind[:40], "id": proposal.id[:128],
                 "source": source.name[:80], "source_tier": source.tier,
                 "target": target.name[:80], "target_tier": target.tier}
        raise refuse("wrong_wallet", f"{proposal.kind} {proposal.id} moves from "
                     f"{source.name} ({source.tier}) to {target.name} ({target.tier}); a "
                     f"{proposal.kind} moves {rule}", wallet=source.name,
                     says=msg("error.cosign.refill_direction", **names) if refill
                     else msg("error.cosign.sweep_direction", **names))
    return Movement(proposal.kind, asset, amount, source, destination, authorised, emergency)


def _preauthorised(p: ProposalFacts) -> bool:
    policy = p.policy
    return (policy is not None and policy.version == p.proposal.policy_version
            and policy.watch.emergency_sweep == "auto"
            and any(a.approver == f"policy: v{policy.version} emergency_sweep=auto"
                    for a in p.approvals))


def _asset(facts: KinkoFacts, symbol: str) -> Asset:
    asset = facts.assets.get(symbol)
    if asset is None:
        raise refuse("unknown_asset", f"kinko registers no asset {symbol!r}", asset=symbol,
                     says=msg("error.cosign.unknown_asset", asset=symbol[:40]))
    return asset


def _wallet(facts: KinkoFacts, name: str, asset: Asset, what: str) -> Wallet:
    wallet = next((w for w in facts.wallets if w.name == name), None)
    if wallet is None or wallet.asset != asset.symbol:
        raise refuse("wrong_wallet", f"{what} names wallet {name!r}, which is not a "
                     f"registered {asset.symbol} wallet", wallet=name,
                     says=msg("error.cosign.not_asset_wallet", what=what[:200],
                              wallet=name[:80], asset=asset.symbol))
    return wallet


def _has(wallet: Wallet, address: str) -> bool:
    return any(a.lower() == address.lower() for a in wallet.addresses)


def _hot_addresses(wallets: Sequence[Wallet]) -> set[str]:
    return {a.lower() for w in wallets if w.tier == "hot" for a in w.addresses}


def match_movement(request: CosignRequest, facts: KinkoFacts, policy: CosignPolicy,
                   limits: Mapping[str, SafeLimit], now: datetime) -> Movement:
    """The movement kinko approved for ``request``, checked field by field against its
    SafeTx (see the module docstring); :func:`refuse` naming the first thing that does not
    hold. The movement's ``counts`` says whether it counts toward the rolling limit."""
    move = (_withdrawal if request.kind == "withdrawal" else _proposal)(
        facts, request, now, policy.policy_anchor, policy.time_lock)
    tx, asset = request.tx, move.asset
    what = f"{move.kind} {request.id}"
    if asset.chain != policy.chain:
        raise refuse("wrong_chain", f"{what} moves {asset.symbol}, an asset on "
                     f"{asset.chain}; the co-signer signs for {policy.chain}", field="chain_id",
                     says=msg("error.cosign.asset_chain", what=what[:200], asset=asset.symbol,
                              chain=asset.chain, ours=policy.chain[:40]))
    if not _has(move.source, tx.safe):
        raise refuse("wrong_wallet", f"Safe {tx.safe} is not an address of wallet "
                     f"{move.source.name}, which pays {what}", safe=tx.safe,
                     wallet=move.source.name,
                     says=msg("error.cosign.safe_not_of_wallet", safe=tx.safe[:80],
                              wallet=move.source.name[:80], what=what[:200]))
    _limit(limits, f"Safe {tx.safe}", asset)
    _match_payment(tx, asset, move, what)
    return _destination(move, facts, policy, what)


def _destination(move: Movement, facts: KinkoFacts, policy: CosignPolicy,
                 what: str) -> Movement:
    """Where the movement pays, against the exchange's own wallets and the breakers (the
    same for every chain); the movement with whether it counts toward the rolling limit."""
    asset = move.asset
    hot = _hot_addresses(facts.wallets)
    to_hot = move.destination.lower() in hot
    if move.kind != "refill" and to_hot:
        raise refuse("own_hot_wallet", f"{what} pays {move.destination}, one of the "
                     "exchange's own hot wallets: only a refill may", field="to",
                     says=msg("error.cosign.pays_own_hot", what=what[:200],
                              destination=move.destination[:80]))
    to_cold = (policy.is_cold(asset.symbol, move.destination) and not to_hot
               and any(_has(w, move.destination) for w in facts.wallets
                       if w.asset == asset.symbol and w.tier != "hot"))
    exempt = move.emergency is not None and to_cold
    tripped = sorted(facts.tripped & {asset.symbol, "*"})
    if tripped and not exempt:
        scope = "global" if tripped == ["*"] else f"{asset.symbol}"
        raise refuse("breaker_tripped", f"the {scope} breaker is tripped: the co-signer "
                     f"signs no {move.kind} until the quorum resets it (only an emergency "
                     "sweep to a cold address in its own settings)", scope=tripped[0],
                     says=msg("error.cosign.breaker_global", kind=move.kind[:40])
                     if tripped == ["*"] else msg("error.cosign.breaker_asset",
                                                  asset=asset.symbol, kind=move.kind[:40]))
    counts = not (to_cold and move.kind == "sweep")
    return Movement(move.kind, asset, move.amount, move.source, move.destination,
                    move.authorised, move.emergency, counts)


def _limit(limits: Mapping[str, SafeLimit], account: str, asset: Asset) -> SafeLimit:
    limit = limits.get(asset.symbol)
    if limit is None:
        raise refuse("unknown_safe", f"the co-signer's settings list {account} for "
                     f"{', '.join(sorted(limits))}, not {asset.symbol}", safe=account,
                     says=msg("error.cosign.safe_assets", account=account[:120],
                              assets=", ".join(sorted(limits))[:200], asset=asset.symbol))
    if (asset.token or "").lower() != (limit.token or "").lower():
        raise refuse("unknown_token", f"kinko registers {asset.symbol} as "
                     f"{asset.token or 'the native coin'}; the co-signer's settings know it "
                     f"as {limit.token or 'the native coin'} for {account}",
                     asset=asset.symbol,
                     says=msg("error.cosign.token_differs", asset=asset.symbol,
                              token=asset.token or msg("error.cosign.native_coin"),
                              known=limit.token or msg("error.cosign.native_coin"),
                              account=account[:120]))
    return limit


# ---------------------------------------------------------------------- NEM multisig accounts


@dataclass(frozen=True)
class NemCosignRequest:
    """Co-sign, as one cosignatory of a NEM multisig account, the transfer ``transfer``
    (read from its own bytes) for kinko's withdrawal or proposal ``id``."""

    kind: str  # withdrawal | proposal
    id: str
    transfer: NemTransfer

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def nem_request_json(request: NemCosignRequest) -> dict[str, Any]:
    """A NEM request as the protocol carries it: the transfer's own bytes and the hash the
    caller computed (the co-signer computes it again)."""
    return {"kind": request.kind, "id": request.id,
            "nem_transfer": {"chain": request.transfer.chain, "data": request.transfer.data},
            "inner_hash": request.transfer.inner_hash}


def parse_nem_request(body: Any) -> NemCosignRequest:
    """A NEM request as the protocol carries it (:func:`nem_request_json`);
    :class:`~kinko.errors.CosignRefused` (``malformed`` or ``wrong_hash``) naming the field
    otherwise."""
    kind, request_id = _request_head(body, ("nem_transfer", "inner_hash"))
    given = body.get("nem_transfer")
    if not isinstance(given, Mapping) or set(given) != {"chain", "data"}:
        raise refuse("malformed", "nem_transfer must be {\"chain\", \"data\"}",
                     field="nem_transfer", says=msg("error.cosign.nem_transfer_form"))
    try:
        transfer = read_transfer(str(given["chain"]), given["data"])
    except BadInput as exc:
        raise refuse("malformed", f"nem_transfer: {exc.message}", field="nem_transfer",
                     says=msg("error.cosign.nem_transfer_unread", problem=exc.said())) \
            from None
    claimed = body.get("inner_hash")
    if not isinstance(claimed, str) or claimed.lower() != transfer.inner_hash:
        raise refuse("wrong_hash", f"inner_hash {_shown(claimed)} is not the hash of the "
                     f"transfer given ({transfer.inner_hash}): the caller and the co-signer "
                     "do not see the same transfer", field="inner_hash",
                     says=msg("error.cosign.wrong_inner_hash", claimed=_shown(claimed),
                              hash=transfer.inner_hash))
    return NemCosignRequest(str(kind), request_id, transfer)


MAX_NEM_DEADLINE = timedelta(hours=24)
"""NIS1 refuses a deadline more than a day after the transaction's time stamp; the co-signer
refuses one more than a day ahead of now."""


def check_nem_request(request: NemCosignRequest,
                      policy: CosignPolicy) -> Mapping[str, SafeLimit]:
    """What needs nothing but the request and the co-signer's settings: its chain, an
    account its settings list. The account's limits by asset."""
    transfer = request.transfer
    if transfer.chain != policy.chain:
        raise refuse("wrong_chain", f"the transfer is on {transfer.chain}; the co-signer "
                     f"signs for {policy.chain} only", field="chain",
                     says=msg("error.cosign.wrong_nem_chain", chain=transfer.chain[:40],
                              ours=policy.chain[:40]))
    limits = policy.limits(transfer.account)
    if not limits:
        raise refuse("unknown_safe", f"account {transfer.account} is not in the co-signer's "
                     "settings ([[safes]]): it signs for no other account",
                     safe=transfer.account,
                     says=msg("error.cosign.unknown_account", account=transfer.account[:80]))
    return limits


def match_nem_movement(request: NemCosignRequest, facts: KinkoFacts, policy: CosignPolicy,
                       limits: Mapping[str, SafeLimit], now: datetime) -> Movement:
    """The movement kinko approved for ``request``, checked field by field against the NEM
    transfer: the account (an address of the wallet paying), the recipient, the XEM and the
    mosaics (exactly the asset and amount, nothing else), the deadline (in the future, at
    most a day ahead, and no later than the withdrawal's hold or the proposal expires, so
    the transfer cannot be included after kinko released the funds); then the destination
    and the breakers as for a Safe. :func:`refuse` naming the first field that differs."""
    move = (_withdrawal if request.kind == "withdrawal" else _proposal)(
        facts, request, now, policy.policy_anchor, policy.time_lock)  # type: ignore[arg-type]
    tr, asset = request.transfer, move.asset
    what = f"{move.kind} {request.id}"
    if asset.chain != policy.chain:
        raise refuse("wrong_chain", f"{what} moves {asset.symbol}, an asset on "
                     f"{asset.chain}; the co-signer signs for {policy.chain}", field="chain",
                     says=msg("error.cosign.asset_chain", what=what[:200], asset=asset.symbol,
                              chain=asset.chain, ours=policy.chain[:40]))
    if not _has(move.source, tr.account):
        raise refuse("wrong_wallet", f"account {tr.account} is not an address of wallet "
                     f"{move.source.name}, which pays {what}", safe=tr.account,
                     wallet=move.source.name,
                     says=msg("error.cosign.account_not_of_wallet", account=tr.account[:80],
                              wallet=move.source.name[:80], what=what[:200]))
    _limit(limits, tr.account, asset)
    shown = f"{format_units(move.amount, asset)} {asset.symbol} to {move.destination}"
    mosaics = dict(tr.mosaics)
    checks: tuple[tuple[str, bool, str], ...]
    if asset.token is None:
        checks = (("to", tr.to.lower() == move.destination.lower(), tr.to),
                  ("xem", tr.xem == move.amount, str(tr.xem)),
                  ("mosaics", not mosaics, str(mosaics)))
    else:
        checks = (("to", tr.to.lower() == move.destination.lower(), tr.to),
                  ("mosaics", mosaics == {asset.token.lower(): move.amount}, str(mosaics)),
                  ("xem", tr.xem == 0, str(tr.xem)))
    checks += (("fee", tr.fee <= tr.fee_cap, f"{tr.fee} micro-XEM, above the "
                f"{tr.fee_cap} NIS1 asks for it"),)
    for name, ok, got in checks:
        if not ok:
            raise refuse("mismatch", f"{what} pays {shown}; the transfer's {name} is {got}",
                         field=name, says=msg(
                             "error.cosign.transfer_differs", what=what[:200],
                             amount=Units(move.amount, asset.symbol, asset.decimals),
                             destination=move.destination[:80], field=name,
                             got=msg("error.cosign.fee_over", fee=str(tr.fee),
                                     cap=str(tr.fee_cap)) if name == "fee" else got[:200]))
    if request.kind == "withdrawal" and facts.withdrawal is not None:
        latest = facts.withdrawal.hold_expires
    else:
        latest = (_lapses(facts, facts.proposal.proposal, now, policy.time_lock)
                  if facts.proposal is not None else None)
    deadline = datetime.fromtimestamp(tr.deadline_unix, UTC)
    bound = now + MAX_NEM_DEADLINE if latest is None else min(latest, now + MAX_NEM_DEADLINE)
    if not now < deadline <= bound:
        raise refuse("mismatch", f"{what}: the transfer's deadline {deadline.isoformat()} is "
                     f"not between now and {bound.isoformat()} (a day at most, and before "
                     "kinko's reservation of the funds ends)", field="deadline",
                     says=msg("error.cosign.deadline", what=what[:200], deadline=Time(deadline),
                              bound=Time(bound)))
    return _destination(move, facts, policy, what)


def check_nem_account(account: str, minimum: int, cosignatories: Sequence[str],
                      cosigner: str) -> None:
    """The account on chain is one the co-signer's signature protects: a multisig account
    whose cosignatories include the co-signer and whose minimum needs at least one more."""
    problems, said = [], []
    if cosigner.lower() not in {c.lower() for c in cosignatories}:
        problems.append(f"the co-signer {cosigner} is not a cosignatory")
        said.append(msg("error.cosign.not_cosignatory", cosigner=cosigner[:80]))
    if minimum < 2:
        problems.append(f"minimum {minimum}: one key moves its funds without the co-signer")
        said.append(msg("error.cosign.minimum_one", minimum=minimum))
    if problems:
        raise refuse("safe_config", f"account {account}: " + "; ".join(problems),
                     safe=account, problems=problems,
                     says=msg("error.cosign.account_config", account=account[:80],
                              problems=joined(said)))


def _match_payment(tx: SafeTx, asset: Asset, move: Movement, what: str) -> None:
    shown = f"{format_units(move.amount, asset)} {asset.symbol} to {move.destination}"
    if asset.token is None:
        checks = (("to", tx.to.lower() == move.destination.lower(), tx.to),
                  ("value", tx.value == move.amount, str(tx.value)),
                  ("data", tx.data == b"", "0x" + tx.data.hex()[:80]))
    else:
        try:
            expected = transfer_data(move.destination, move.amount)
        except ValueError:
            raise refuse("mismatch", f"{what}: {move.destination} is not an address the "
                         "token can pay", field="data",
                         says=msg("error.cosign.token_cannot_pay", what=what[:200],
                                  destination=move.destination[:80])) from None
        checks = (("to", tx.to.lower() == asset.token.lower(), tx.to),
                  ("value", tx.value == 0, str(tx.value)),
                  ("data", tx.data == expected, _describe_call(tx.data)))
    for name, ok, got in checks:
        if not ok:
            raise refuse("mismatch", f"{what} pays {shown}; the SafeTx's {name} is {got}",
                         field=name, says=msg(
                             "error.cosign.safe_tx_differs", what=what[:200],
                             amount=Units(move.amount, asset.symbol, asset.decimals),
                             destination=move.destination[:80], field=name, got=got[:200]))


def _describe_call(data: bytes) -> str:
    if len(data) == 68 and data[:4] == TRANSFER_SELECTOR and not any(data[4:16]):
        to = "0x" + data[16:36].hex()
        return f"transfer({to}, {int.from_bytes(data[36:68], 'big')})"
    return "0x" + data.hex()[:80] + ("..." if len(data) > 40 else "")


def check_safe_state(state: SafeState, cosigner: str) -> None:
    """The Safe on chain is one the co-signer's signature protects: it is an owner, the
    threshold needs at least one more key, no module or guard can act without the owners,
    and it runs the audited SafeL2 1.4.1."""
    problems, said = [], []
    if cosigner.lower() not in {o.lower() for o in state.owners}:
        problems.append(f"the co-signer {cosigner} is not an owner")
        said.append(msg("error.cosign.not_owner", cosigner=cosigner[:80]))
    if state.threshold < 2:
        problems.append(f"threshold {state.threshold}: one key moves its funds without the "
                        "co-signer")
        said.append(msg("error.cosign.threshold_one", threshold=state.threshold))
    if state.modules:
        problems.append(f"modules enabled ({', '.join(state.modules)})")
        said.append(msg("error.cosign.modules", modules=", ".join(state.modules)[:400]))
    if state.guard.lower() != ZERO_ADDRESS:
        problems.append(f"guard {state.guard}")
        said.append(msg("error.cosign.guard", guard=state.guard[:80]))
    if state.version != "1.4.1" or not state.singleton_ok:
        problems.append(f"not the audited SafeL2 1.4.1 (version {state.version})")
        said.append(msg("error.cosign.not_audited_safe", version=state.version[:40]))
    if problems:
        raise refuse("safe_config", f"Safe {state.address}: " + "; ".join(problems),
                     safe=state.address, problems=problems,
                     says=msg("error.cosign.safe_config", safe=state.address[:80],
                              problems=joined(said)))


def check_nonce(tx: SafeTx, state: SafeState, window: int) -> None:
    """The SafeTx's nonce is the Safe's next one or at most ``window`` - 1 ahead (so
    several withdrawals can be co-signed before the first is mined)."""
    if tx.nonce < state.nonce:
        raise refuse("nonce_used", f"nonce {tx.nonce} of Safe {tx.safe} is already used "
                     f"(the Safe is at nonce {state.nonce}): a replay", nonce=tx.nonce,
                     says=msg("error.cosign.nonce_used", nonce=str(tx.nonce),
                              safe=tx.safe[:80], at=str(state.nonce)))
    if tx.nonce >= state.nonce + window:
        raise refuse("nonce_too_far", f"nonce {tx.nonce} of Safe {tx.safe} is "
                     f"{tx.nonce - state.nonce} ahead of the Safe's ({state.nonce}); the "
                     f"co-signer signs at most {window} ahead", nonce=tx.nonce,
                     says=msg("error.cosign.nonce_too_far", nonce=str(tx.nonce),
                              safe=tx.safe[:80], ahead=tx.nonce - state.nonce,
                              at=str(state.nonce), window=window))
