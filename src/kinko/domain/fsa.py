"""The FSA report's data: the regulator's four questions, answered from kinko's records.

After the Coincheck theft of January 2018 the FSA asked every exchange, in writing, for
(1) the amount and share of customer crypto held online, (2) how its wallets are operated,
(3) how abnormal withdrawal requests and unauthorised outflows are detected and (4) how
cyberattacks are answered; and from Coincheck, for the incident itself, the cause, the
customers affected, the refunds and where their money comes from. :class:`FsaReport`
holds one answer to all of it, per asset, as data: built by
:func:`kinko.services.fsa.fsa_report`, rendered (Japanese or English; HTML, PDF or Markdown
with a CSV appendix) by :mod:`kinko.render.fsa`.

Every figure keeps where it came from, and all of it is the exchange's own record: amounts
are exact minor units with the asset's decimals beside them; the time to detect a theft is
computed from what the watch recorded (when the transaction was first seen, in the mempool
or in its block, the block's time, and when the alarm was raised); a refund plan is the
file another command wrote, with the digest of its per-customer file checked; the cover
names the exchange as its settings' ``[exchange]`` section does (:class:`Submitter`)::

    >>> plan = parse_refund_plan({"format": "kinko-refund-plan-v1", "plan_id": "P1",
    ...     "incident": "INC-1", "asset": "XEM", "decimals": 6, "customers": 2,
    ...     "total_units": 3_000_000, "total_yen": 265, "currency": "JPY",
    ...     "price": {"value": "88.549", "method": "fixed"},
    ...     "funds": {"available_yen": 300, "required_yen": 265, "confirmed": True,
    ...               "shortfall_yen": 0}}, "plan.json")
    >>> plan.funds_confirmed, plan.price
    (True, Decimal('88.549'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kinko.domain.messages import Message, msg
from kinko.domain.policy import WatchPolicy
from kinko.domain.report import CustodyReport
from kinko.errors import InputFileError

__all__ = [
    "PLAN_FORMAT",
    "AlertInfo",
    "ApproverInfo",
    "AssetLimits",
    "BreakerEvent",
    "Detection",
    "ExposureRow",
    "FsaReport",
    "Governance",
    "IncidentSection",
    "MoveInfo",
    "NoticeInfo",
    "RefundPlan",
    "RuleInfo",
    "Submitter",
    "TimelineEvent",
    "TraceSummary",
    "WalletInfo",
    "WatchInfo",
    "parse_refund_plan",
]

PLAN_FORMAT = "kinko-refund-plan-v1"
ADDRESSEES = ("fsa", "kanto")  # the FSA's Commissioner, the Kanto Local Finance Bureau


@dataclass(frozen=True)
class Submitter:
    """Who submits the report and to whom (the settings' ``[exchange]`` section): the
    cover names them and carries the signature block. ``addressee`` is ``fsa`` (the
    Commissioner of the FSA), ``kanto`` (the Director-General of the Kanto Local Finance
    Bureau) or the addressee's title as written; a field left empty is a line to fill in
    by hand."""

    name: str = ""
    registration: str = ""  # e.g. 関東財務局長 第00001号
    representative: str = ""  # e.g. 代表取締役 山田 太郎
    address: str = ""
    addressee: str = "fsa"


# ---------------------------------------------------------------------------- 2. wallets

@dataclass(frozen=True)
class WalletInfo:
    """One exchange wallet and who holds its key: ``keystore`` (a hot wallet whose key is in
    kinko's encrypted keystore), ``keystore_missing`` (hot, but no keystore file found) or
    ``watch_only`` (warm and cold: kinko has no key)."""

    name: str
    asset: str
    tier: str
    addresses: tuple[str, ...]
    balance: int
    keys: str


@dataclass(frozen=True)
class AssetLimits:
    asset: str
    max_hot_ratio: Decimal
    target_hot_ratio: Decimal
    hot_min: int
    hot_max: int | None
    cold_wallet: str | None
    emergency_address: str | None


@dataclass(frozen=True)
class ApproverInfo:
    name: str
    key_fingerprint: str  # the first 16 hex digits of the Ed25519 public key


@dataclass(frozen=True)
class Governance:
    """Who decides: the active policy's version, approvers, quorum and watch settings."""

    policy_version: int | None
    policy_digest: str | None
    quorum: int
    approvers: tuple[ApproverInfo, ...]
    proposal_ttl_hours: int
    warm_counts_as_hot: bool
    total_max_hot_ratio: Decimal | None
    watch: WatchPolicy | None


@dataclass(frozen=True)
class MoveInfo:
    """A sweep or refill put to the quorum (an emergency sweep names its incident)."""

    id: str
    kind: str
    asset: str
    amount: int
    state: str
    approvals: int
    quorum: int
    tx_hash: str | None
    emergency: str | None
    created_at: datetime
    preauthorised: tuple[int, str] | None = None  # (policy version, clause) that approved it
    approvers: tuple[str, ...] = ()


# ---------------------------------------------------------------------------- 3. detection

@dataclass(frozen=True)
class RuleInfo:
    """A screening rule of the active policy, its parameters shown in the asset's units."""

    name: str
    kind: str
    asset: str | None
    action: str
    reason: Message
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AlertInfo:
    id: str
    kind: str
    severity: str
    state: str
    chain_state: str | None
    asset: str | None
    wallet: str | None
    tx_hash: str | None
    amount: int | None
    block: int | None
    raised: datetime
    incident: str | None
    detail: Message
    acked_by: str | None = None


@dataclass(frozen=True)
class Detection:
    """How fast one unauthorised outflow was detected, from what the watch recorded: when
    it first saw the transaction (in the mempool, or in its block), the block's own time
    (None while it was not mined), and when the alarm was raised."""

    alert: str
    tx_hash: str
    block: int | None
    block_time: datetime | None
    first_seen: datetime | None
    raised: datetime
    pending_first: bool  # first seen in the mempool, before any block held it

    @property
    def seen_to_alarm_ms(self) -> int | None:
        if self.first_seen is None:
            return None
        return round((self.raised - self.first_seen).total_seconds() * 1000)

    @property
    def block_to_alarm_s(self) -> float | None:
        """Seconds from the block's time to the alarm (negative: alarmed before the block;
        block times are whole seconds)."""
        if self.block_time is None:
            return None
        return (self.raised - self.block_time).total_seconds()


@dataclass(frozen=True)
class WatchInfo:
    chains: tuple[tuple[str, int | None], ...]  # chain → the watch's checkpoint block
    node: str | None  # the chain a node is configured for (None: no node)
    mempool: bool  # the node's pending transactions are read
    confirmations: int
    alerts: tuple[AlertInfo, ...]
    alerts_total: int
    detections: tuple[Detection, ...]  # every theft alert, as the watch recorded it
    deny_listed: int  # addresses on the deny lists screening and the watch read
    heartbeats: tuple[tuple[str, datetime, int | None, int | None], ...] = ()
    # chain → the watch's last round, its last block and the node's head then


# ---------------------------------------------------------------------------- 4. response

@dataclass(frozen=True)
class BreakerEvent:
    scope: str
    event: str
    at: datetime
    by: str
    reason: Message


@dataclass(frozen=True)
class NoticeInfo:
    id: int
    alert: str
    state: str
    attempts: int
    next_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class ExposureRow:
    entity: str
    category: str
    taint: int
    addresses: int


@dataclass(frozen=True)
class TraceSummary:
    """A trace folder (``kinko trace run --out``): summary, exposure, blacklist, graph."""

    folder: str
    policy: str
    asset: str | None  # the traced asset, when known (amounts are its minor units)
    seed_transactions: int
    seeded: int
    held: int
    burned: int
    absorbed: int
    conserved: bool | None
    tainted_addresses: int
    exposure: tuple[ExposureRow, ...]
    blacklist: str | None  # the blacklist file beside the trace, if any
    blacklisted: int
    at_hop_limit: int = 0  # taint the trace stopped following at --max-hops (not absorbed)
    graph_png: bytes | None = field(default=None, repr=False)


# ---------------------------------------------------------------------------- 5. incident

@dataclass(frozen=True)
class RefundPlan:
    """A refund plan file (``kinko refunds plan --out DIR``), checked and summarised."""

    source: str
    plan_id: str
    incident: str
    asset: str
    decimals: int
    currency: str
    rounding: str
    snapshot: str  # the ledger's time the balances were taken at, as recorded
    snapshot_source: str  # what fixed it (e.g. the first theft's alert)
    price: Decimal
    price_method: str  # fixed or vwap
    price_detail: tuple[tuple[str, str], ...]  # trades file, window, sums, exact VWAP
    customers: int
    total_units: int
    total_yen: int
    exact_total_yen: str
    remainder_yen: str
    available_yen: int
    required_yen: int
    funds_confirmed: bool
    shortfall_yen: int
    funds_detail: tuple[tuple[str, str], ...]  # as_of, bank_yen, customers_yen when given
    csv_sha256: str
    csv_verified: bool | None  # refunds.csv beside it hashed to the digest; None: no file


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    actor: str
    detail: Message


@dataclass(frozen=True)
class IncidentSection:
    id: str
    title: Message
    state: str
    asset: str | None
    wallet: str | None
    opened: datetime
    closed: datetime | None
    timeline: tuple[TimelineEvent, ...]
    causes: tuple[TimelineEvent, ...]  # operators' notes (kind "note" or "cause")
    measures: tuple[TimelineEvent, ...]  # what was done: breaker, sweeps, notices, ...
    alerts: tuple[AlertInfo, ...]
    lost_by_alerts: Mapping[str, int]  # asset → theft alerts' amounts (not retracted)
    lost_in_ledger: Mapping[str, int]  # asset → booked to loss:<incident> (Σ debits)
    customers_affected: int | None
    # "plan" (the refund plan's customers), "shortfall" (customers holding the asset when the
    # theft began, whose claims the holdings no longer cover) or "covered" (the exchange's
    # own holdings cover the loss: no customer lost anything)
    customers_source: str
    detection: Detection | None = None  # the first theft's, when the watch alarmed
    shortfall: Mapping[str, int] = field(default_factory=dict)  # asset → holdings short now


# ---------------------------------------------------------------------------- the report

@dataclass(frozen=True)
class FsaReport:
    generated_at: datetime
    custody: CustodyReport  # question 1: positions, shares, guarantee, findings
    ratio_ok: Mapping[str, bool | None]  # asset → the ≤ max_hot_ratio test (None: no limit)
    total_ratio_ok: bool | None  # all assets by yen value (None: not every asset priced)
    decimals: Mapping[str, int]
    wallets: tuple[WalletInfo, ...]
    limits: tuple[AssetLimits, ...]
    governance: Governance
    moves: tuple[MoveInfo, ...]
    rules: tuple[RuleInfo, ...]
    watch: WatchInfo
    breaker_tripped: tuple[BreakerEvent, ...]
    breaker_log: tuple[BreakerEvent, ...]
    notices: tuple[NoticeInfo, ...]
    trace: TraceSummary | None = None
    refund_plan: RefundPlan | None = None
    incident: IncidentSection | None = None
    positions_at: datetime | None = None  # question 1 as of this time (None: now)
    submitter: Submitter = field(default_factory=Submitter)

    @property
    def emergency_sweeps(self) -> tuple[MoveInfo, ...]:
        return tuple(m for m in self.moves if m.emergency)


# ---------------------------------------------------------------------------- parsing

def _int(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or value is None:
        raise InputFileError(f"{where}: {key} is missing or not a whole number",
                             says=msg("error.fsa.no_whole_number", where=where[:200],
                                      key=key[:80]))
    try:
        return int(str(value))
    except ValueError:
        raise InputFileError(f"{where}: {key} = {value!r} is not a whole number",
                             says=msg("error.fsa.not_whole_number", where=where[:200],
                                      key=key[:80], value=str(value)[:80])) from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def parse_refund_plan(data: Mapping[str, Any], where: str,
                      csv_sha256: str | None = None) -> RefundPlan:
    """Check a refund plan's JSON; ``csv_sha256`` is the digest of the refunds CSV found
    beside it (None: not found). Anything missing or malformed is refused by name."""
    if not isinstance(data, Mapping) or data.get("format") != PLAN_FORMAT:
        raise InputFileError(f"{where}: not a kinko refund plan (format must be "
                             f"{PLAN_FORMAT!r})",
                             says=msg("error.refunds.not_a_plan", file=where[:200],
                                      format=PLAN_FORMAT))
    price = data.get("price")
    funds = data.get("funds")
    if not isinstance(price, Mapping) or not isinstance(funds, Mapping):
        raise InputFileError(f"{where}: price and funds must be objects",
                             says=msg("error.fsa.plan_objects", file=where[:200]))
    try:
        value = Decimal(str(price.get("value")))
    except InvalidOperation:
        raise InputFileError(f"{where}: price.value {price.get('value')!r} is not a "
                             "number", says=msg("error.fsa.price_not_number", file=where[:200],
                                                value=str(price.get("value"))[:80])) from None
    if not value.is_finite() or value <= 0:
        raise InputFileError(f"{where}: price.value must be a number above 0",
                             says=msg("error.fsa.price_not_positive", file=where[:200]))
    for key in ("plan_id", "incident", "asset"):
        if not str(data.get(key) or "").strip():
            raise InputFileError(f"{where}: {key} is missing",
                                 says=msg("error.fsa.plan_field_missing", file=where[:200],
                                          key=key))
    confirmed = funds.get("confirmed")
    if not isinstance(confirmed, bool):
        raise InputFileError(f"{where}: funds.confirmed must be true or false",
                             says=msg("error.fsa.confirmed_not_bool", file=where[:200]))
    detail = tuple((k, _text(price[k])) for k in ("trades_file", "from", "to", "trades",
                                                  "sum_price_volume", "sum_volume",
                                                  "vwap_exact")
                   if price.get(k) not in (None, ""))
    digest = str(data.get("refunds_csv_sha256") or "")
    return RefundPlan(
        source=where, plan_id=str(data["plan_id"]), incident=str(data["incident"]),
        asset=str(data["asset"]), decimals=_int(data, "decimals", where),
        currency=str(data.get("currency") or "JPY"), rounding=str(data.get("rounding") or ""),
        snapshot=_text(data.get("snapshot")),
        snapshot_source=_text(data.get("snapshot_source")), price=value,
        price_method=str(price.get("method") or ""), price_detail=detail,
        customers=_int(data, "customers", where),
        total_units=_int(data, "total_units", where), total_yen=_int(data, "total_yen", where),
        exact_total_yen=_text(data.get("exact_total_yen")),
        remainder_yen=_text(data.get("remainder_yen")),
        available_yen=_int(funds, "available_yen", f"{where}: funds"),
        required_yen=_int(funds, "required_yen", f"{where}: funds"),
        funds_confirmed=confirmed,
        shortfall_yen=_int(funds, "shortfall_yen", f"{where}: funds"),
        funds_detail=tuple((k, _text(funds[k])) for k in ("as_of", "bank_yen", "customers_yen")
                           if funds.get(k) not in (None, "")),
        csv_sha256=digest,
        csv_verified=None if csv_sha256 is None else csv_sha256.lower() == digest.lower())
