"""The FSA report, built only from kinko's own records.

:func:`fsa_report` gathers, in one pass over the store, what the regulator asks
(see :mod:`kinko.domain.fsa`):

1. positions per asset from :func:`~kinko.services.custody.custody_report` (the same check
   ``kinko check`` runs: shares, the ≤5% test, the guarantee, reserve findings);
2. wallets with their tiers, addresses and who holds their keys; the policy's limits,
   approvers, quorum and the sweeps and refills put to them;
3. the screening rules of the active policy, the watch's checkpoints, heartbeat and alerts,
   and how fast each theft was detected, from what the watch recorded (when it first saw
   the transaction, the block's time, when it raised the alarm);
4. the breaker's state and log, emergency sweeps, the webhook outbox, and a trace folder;
5. for an incident: its timeline, the operators' notes on the cause, the amounts lost
   (theft alerts, and the ``loss:<incident>`` ledger account), the customers affected (those
   whose assets were lost: none when the exchange's own holdings cover the loss), the
   refund plan with its funds check, and the measures taken.

Only the exchange's own records go in: no file of kinko's own (benchmarks), no path of the
machine that wrote it (a trace is named by its policy, its blacklist by its file name).

Files are read, never trusted: a refund plan must have the plan format and its per-customer
CSV, when it lies beside it, must hash to the digest the plan records::

    report = fsa_report(custody, incident="INC-20180126-1", refund_plan=Path("plan"),
                        trace=Path("trace/haircut"), submitter=settings.exchange)
"""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from kinko.domain.approvals import preauthorisation
from kinko.domain.csvcells import CsvRecords, unescape_cell
from kinko.domain.fsa import (
    AlertInfo,
    ApproverInfo,
    AssetLimits,
    BreakerEvent,
    Detection,
    ExposureRow,
    FsaReport,
    Governance,
    IncidentSection,
    MoveInfo,
    NoticeInfo,
    RefundPlan,
    RuleInfo,
    Submitter,
    TimelineEvent,
    TraceSummary,
    WalletInfo,
    WatchInfo,
    parse_refund_plan,
)
from kinko.domain.ledger import normal_balance
from kinko.domain.messages import msg, os_refusal
from kinko.domain.money import format_units
from kinko.domain.policy import Policy
from kinko.domain.refunds import parse_plan_document
from kinko.domain.report import CustodyReport
from kinko.domain.screening import RULE_KINDS, parse_rules
from kinko.errors import BadInput, InputFileError, LedgerTampered, UnknownAsset
from kinko.ports import AlertRow, BreakerEventRow, IncidentRow, TimelineRow
from kinko.safeload import loads_json, read_stream
from kinko.services.custody import Custody, custody_positions, custody_report
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger

__all__ = ["CAUSE_KINDS", "FINDING_KINDS", "fsa_report", "read_exposure", "read_refund_plan",
           "read_trace"]

CAUSE_KINDS = ("note", "cause")  # timeline entries that record the cause, in operators' words
# timeline entries that are findings, not measures taken
FINDING_KINDS = ("opened", "alert", "chain", *CAUSE_KINDS)


def fsa_report(custody: Custody, *, incident: str | None = None,
               refund_plan: Path | None = None, trace: Path | None = None,
               trace_asset: str | None = None, confirmations: int = 12,
               keystore_dir: Path | None = None, reconcile: bool = True,
               alert_limit: int = 10_000, positions_at: datetime | None = None,
               submitter: Submitter | None = None) -> FsaReport:
    """The report's data; see the module docstring. ``incident`` defaults to the refund
    plan's; an unknown incident, or a plan for another incident, is refused (BadInput)."""
    ledger = custody.ledger
    _books_verify(ledger)
    plan = read_refund_plan(refund_plan) if refund_plan is not None else None
    if plan is not None:
        if incident is not None and incident != plan.incident:
            raise BadInput(f"{plan.source} is the refund plan of incident {plan.incident}, "
                           f"not of {incident}",
                           says=msg("error.fsa.plan_of_other_incident", file=plan.source[:200],
                                    plan_incident=plan.incident[:80], incident=incident[:80]))
        incident = plan.incident
    incidents = Incidents(ledger.store, custody.clock, ledger)
    view = incidents.incident(incident) if incident is not None else None  # refuses unknown
    if trace_asset is None and view is not None:
        trace_asset = view.incident["asset"]
    if trace_asset is not None and trace_asset not in ledger.assets:
        raise UnknownAsset(f"unknown asset {trace_asset!r}", asset=trace_asset,
                           says=msg("error.trace.unknown_asset", asset=trace_asset[:80]))
    summary = read_trace(trace, trace_asset) if trace is not None else None

    # question 1 now, or as the ledger stood at a time (e.g. when the incident began)
    report = custody_report(custody, reconcile=reconcile and positions_at is None,
                            at=positions_at)
    policy = custody.policy()
    decimals = {a.symbol: a.decimals for a in ledger.assets.values()}
    alerts, checkpoints, deny, breaker, notices, beats = _store_records(custody, alert_limit)
    detections = _detections(custody, alerts)
    chain = custody.chain
    watch = WatchInfo(
        chains=tuple(checkpoints.items()), node=chain.name if chain is not None else None,
        mempool=chain is not None, confirmations=confirmations,
        alerts=tuple(alerts), alerts_total=len(alerts), detections=detections,
        deny_listed=deny, heartbeats=beats)
    log = tuple(BreakerEvent(e["scope"], e["event"], e["at"], e["by"], e["reason"])
                for e in breaker)
    state: dict[str, BreakerEvent] = {}
    for e in log:
        state[e.scope] = e
    section = None
    if view is not None:
        section = _incident(custody, view.incident, view.timeline, view.alerts, plan,
                            detections)
    return FsaReport(
        generated_at=custody.clock.now(), custody=report,
        ratio_ok=_ratio_tests(report), total_ratio_ok=_total_ok(report, policy),
        decimals=decimals, wallets=_wallets(custody, keystore_dir),
        limits=_limits(policy), governance=_governance(policy), moves=_moves(custody),
        rules=_rules(custody, policy), watch=watch,
        breaker_tripped=tuple(e for e in state.values() if e.event == "trip"),
        breaker_log=log, notices=tuple(notices), trace=summary, refund_plan=plan,
        incident=section, positions_at=positions_at, submitter=submitter or Submitter())


def _books_verify(ledger: Ledger) -> None:
    """Refuse (:class:`~kinko.errors.LedgerTampered`) when the journal does not verify: the
    report states its figures as the books' (double entry, tamper-evident), so they are
    the books' only when the hash chain, the head and every stored balance hold."""
    checked = ledger.verify()
    if checked.ok:
        return
    first = checked.findings[0]
    entry = "—" if first.seq is None else str(first.seq)
    raise LedgerTampered(
        f"the ledger does not verify ({len(checked.findings)} problem(s); the first: "
        f"{first.message}): no FSA report is written from books that were altered; `kinko "
        "ledger verify` names every problem", code=first.code, seq=first.seq,
        says=msg("error.fsa.ledger_tampered", count=str(len(checked.findings)),
                 problem=first.code, entry=entry))


# ---------------------------------------------------------------------------- 1 and 2

def _total_ok(report: CustodyReport, policy: Policy | None) -> bool | None:
    """The ordinance's test, as the custody check decided it (with or without a policy):
    customer crypto not held cold ≤ 5% of all of it, by yen value (None: it could not be
    decided, or no customer crypto is owed)."""
    codes = {f.code for f in report.findings}
    if "total_hot_ratio_breach" in codes:
        return False
    if "total_not_assessed" in codes or not any(r.liabilities for r in report.rows):
        return None
    return True


def _ratio_tests(report: CustodyReport) -> dict[str, bool | None]:
    """The ≤ max_hot_ratio test per asset (the policy's limit, else the law's 5%), decided
    on the row's own holdings: None when nothing is held."""
    return {r.asset: r.within_limit for r in report.rows}


def _wallets(custody: Custody, keystore_dir: Path | None) -> tuple[WalletInfo, ...]:
    ledger = custody.ledger
    balances = {r.account: normal_balance(r.account, r.state)
                for r in ledger.balances(kind="wallet")}
    out = []
    for w in sorted(ledger.wallets(), key=lambda w: (w.asset, ("hot", "warm", "cold")
                                                     .index(w.tier), w.name)):
        if w.tier != "hot":
            keys = "watch_only"
        elif keystore_dir is None:
            keys = "keystore_unchecked"
        else:
            keys = "keystore" if (keystore_dir / f"{w.name}.json").is_file() \
                else "keystore_missing"
        out.append(WalletInfo(w.name, w.asset, w.tier, w.addresses,
                              balances.get(w.account, 0), keys))
    return tuple(out)


def _limits(policy: Policy | None) -> tuple[AssetLimits, ...]:
    if policy is None:
        return ()
    return tuple(AssetLimits(p.asset, p.max_hot_ratio, p.target_hot_ratio, p.hot_min,
                             p.hot_max, p.cold_wallet, p.emergency_address)
                 for _, p in sorted(policy.assets.items()))


def _governance(policy: Policy | None) -> Governance:
    if policy is None:
        return Governance(None, None, 0, (), 0, True, None, None)
    return Governance(policy.version, policy.digest, policy.quorum,
                      tuple(ApproverInfo(a.name, a.public_key[:16]) for a in policy.approvers),
                      policy.proposal_ttl_hours, policy.warm_counts_as_hot,
                      policy.total_max_hot_ratio, policy.watch)


def _moves(custody: Custody) -> tuple[MoveInfo, ...]:
    out = []
    for v in custody.proposals():
        p = v.proposal
        if p.kind not in ("sweep", "refill"):
            continue
        emergency = p.payload.get("emergency")
        given = [preauthorisation(a.approver) for a in v.approvals]
        out.append(MoveInfo(p.id, p.kind, str(p.payload.get("asset")),
                            int(str(p.payload.get("amount", 0))), v.state, len(v.approvals),
                            v.quorum, v.tx_hash, str(emergency) if emergency else None,
                            p.created_at, next((g for g in given if g is not None), None),
                            tuple(a.approver for a in v.approvals
                                  if preauthorisation(a.approver) is None)))
    return tuple(sorted(out, key=lambda m: (m.created_at, m.id)))


# ---------------------------------------------------------------------------- 3 and 4

def _rules(custody: Custody, policy: Policy | None) -> tuple[RuleInfo, ...]:
    if policy is None:
        return ()
    assets = custody.ledger.assets
    rules = parse_rules(policy.screening_rules, assets, f"policy version {policy.version}")
    out = []
    for spec, rule in zip(policy.screening_rules, rules, strict=True):
        params = []
        for param, declared in RULE_KINDS[rule.kind].params.items():
            if param not in spec:
                continue
            if declared.amount and rule.asset is not None:  # exact, in the asset's units
                value: int = getattr(rule, param)
                text = f"{format_units(value, assets[rule.asset], group=True)} {rule.asset}"
            else:  # as the policy says it: 24h, 0.1, customer
                text = str(spec[param])
            params.append((param, text))
        out.append(RuleInfo(rule.name, rule.kind, rule.asset, rule.action, rule.reason,
                            tuple(params)))
    return tuple(out)


def _alert(a: AlertRow) -> AlertInfo:
    return AlertInfo(a["id"], a["kind"], a["severity"], a["state"], a["chain_state"],
                     a["asset"], a["wallet"], a["tx_hash"],
                     None if a["amount"] is None else int(a["amount"]), a["block"],
                     a["raised"], a["incident"], a["detail"], a.get("acked_by"))


_Beats = tuple[tuple[str, datetime, int | None, int | None], ...]


def _store_records(custody: Custody, limit: int) -> tuple[
        list[AlertInfo], dict[str, int | None], int, list[BreakerEventRow], list[NoticeInfo],
        _Beats]:
    """Alerts, the watch's checkpoint per chain, the deny list's size, the breaker's log,
    the webhook outbox and the watch's heartbeats, in two read transactions."""
    ledger = custody.ledger
    chains = sorted({ledger.assets[w.asset].chain for w in ledger.wallets()})
    with ledger.store.watch(write=False) as tables:
        alerts = [_alert(a) for a in tables.alerts(limit=limit)]
        checkpoints = {c: tables.last_block(c) for c in chains}
        notices = [NoticeInfo(int(n["id"]), str(n["alert"]), n["state"], int(n["attempts"]),
                              n.get("next"), n.get("last_error"))
                   for n in tables.notifications()]
        beats = tuple((str(b["chain"]), b["round"], b["last_block"], b["node_head"])
                      for b in tables.heartbeats())
    with ledger.store.screening(write=False) as screening:
        deny = screening.deny_count()
        breaker = screening.breaker_events()
    return alerts, checkpoints, deny, breaker, notices, beats


def _detections(custody: Custody, alerts: list[AlertInfo]) -> tuple[Detection, ...]:
    """Each unauthorised outflow's detection, from the watch's own records: the
    observation (first seen, in the mempool or in a block), the block's time, the alarm."""
    out = []
    with custody.ledger.store.watch(write=False) as tables:
        for a in alerts:
            if a.kind not in ("theft", "unknown_tx") or not a.tx_hash:
                continue
            key = tables.alert(a.id)
            obs_id = str(key["key"]).removeprefix("outflow:") if key is not None else ""
            obs = tables.observation(obs_id) if obs_id else None
            block = a.block if a.block is not None else obs["block"] if obs else None
            chain = obs_id.split(":", 1)[0] if obs_id else None
            seconds = tables.block_time(chain, int(block)) \
                if chain and block is not None else None
            first_seen = obs["first_seen"] if obs is not None else None
            block_time = None if seconds is None else datetime.fromtimestamp(seconds, UTC)
            pending_first = block is None or (
                block_time is not None and first_seen is not None and first_seen < block_time)
            out.append(Detection(a.id, a.tx_hash, None if block is None else int(block),
                                 block_time, first_seen, a.raised, pending_first))
    return tuple(out)


def read_exposure(folder: Path, name: str | None = None) -> list[ExposureRow]:
    """The exposure per entity of the trace folder ``folder`` (its ``exposure.csv``, which
    kinko wrote but which may come from another machine or have been edited since), the
    file called ``name`` in what is said (its path unless given). Read strictly: a quoted
    field left open is refused on the line where it opens, a field the csv module refuses
    on its line, a row that is not an exposure row naming the file; nothing is given of a
    file with a problem. OSError as opening the file raises it."""
    path = folder / "exposure.csv"
    name = str(path) if name is None else name
    with path.open(encoding="utf-8", newline="") as fh:
        records = CsvRecords(fh, name)
        try:
            header = next(records, [])
            rows = [dict(zip(header, record, strict=False)) for record in records if record]
            return [ExposureRow(unescape_cell(r["entity"]), unescape_cell(r["category"]),
                                int(r["taint_received"]), int(r["addresses"])) for r in rows]
        except csv.Error as exc:  # a quote left open, a field past 131,072 characters
            raise records.refusal(exc, file=name) from None
        except (KeyError, ValueError) as exc:  # a short row, a column missing, not a number
            raise InputFileError(f"{name}: not a trace's exposure file ({exc})", file=name,
                                 says=msg("error.fsa.not_exposure", file=name[:200],
                                          reason=str(exc)[:200])) from None


def read_trace(folder: Path, asset: str | None = None) -> TraceSummary:
    """A trace folder's summary, exposure per entity, blacklist beside it and graph."""
    try:
        with (folder / "summary.json").open("rb") as fh:
            summary = loads_json(read_stream(fh, str(folder / "summary.json")),
                                 str(folder / "summary.json"), error=InputFileError)
        exposure = read_exposure(folder)
    except OSError as exc:
        raise InputFileError(f"{folder}: not a trace folder ({exc.strerror}: "
                             f"{exc.filename})",
                             says=msg("error.fsa.not_a_trace", folder=str(folder)[:200],
                                      reason=os_refusal(exc),
                                      file=str(exc.filename)[:200])) from None
    try:
        totals, counts = summary["totals"], summary.get("counts", {})
        seeds = summary.get("seeds", {})
        conserved = summary.get("conservation", {}).get("holds")
        blacklist, listed = _blacklist(folder)
        graph = folder / "graph.png"
        return TraceSummary(
            folder=str(folder), policy=str(summary["policy"]),
            asset=summary.get("asset") or asset,
            seed_transactions=len(seeds.get("transactions", [])),
            seeded=int(totals["seeded"]), held=int(totals["held"]),
            burned=int(totals["burned"]), absorbed=int(totals.get("absorbed", 0)),
            conserved=None if conserved is None else bool(conserved),
            tainted_addresses=int(counts.get("tainted_addresses", 0)),
            exposure=tuple(sorted(exposure, key=lambda e: (-e.taint, e.entity))),
            blacklist=None if blacklist is None else str(blacklist), blacklisted=listed,
            at_hop_limit=int(totals.get("at_hop_limit", 0)),
            graph_png=graph.read_bytes() if graph.is_file() else None)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputFileError(f"{folder / 'summary.json'}: not a trace summary "
                             f"({exc})",
                             says=msg("error.fsa.not_summary",
                                      file=str(folder / "summary.json")[:200],
                                      reason=str(exc)[:200])) from None


def _blacklist(folder: Path) -> tuple[Path | None, int]:
    """The blacklist written for the trace (in its folder or the one above) and how many
    addresses it lists."""
    for place in (folder, folder.parent):
        for name in ("blacklist.yaml", "blacklist.csv"):
            path = place / name
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                if name.endswith(".csv"):
                    return path, max(0, len(text.strip().splitlines()) - 1)
                return path, sum(1 for line in text.splitlines()
                                 if line.lstrip().startswith("- address:"))
    return None, 0


# ---------------------------------------------------------------------------- 5

def read_refund_plan(folder: Path) -> RefundPlan:
    """``plan.json`` in ``folder`` (or the file itself), checked; the refunds CSV beside it
    is hashed against the plan's digest."""
    path = folder / "plan.json" if folder.is_dir() else folder
    try:
        with path.open("rb") as fh:
            data = loads_json(read_stream(fh, str(path)), str(path), error=InputFileError)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the refund plan: {exc.strerror}",
                             says=msg("error.fsa.plan_unreadable", file=str(path)[:200],
                                      reason=os_refusal(exc))) from None
    parse_plan_document(data, str(path))  # refuses a plan edited after it was written
    digest = None
    refunds = path.parent / "refunds.csv"
    if refunds.is_file():
        digest = hashlib.sha256(refunds.read_bytes()).hexdigest()
    return parse_refund_plan(data, str(path), digest)


def _incident(custody: Custody, row: IncidentRow, events: list[TimelineRow],
              alerts: list[AlertRow], plan: RefundPlan | None,
              detections: tuple[Detection, ...]) -> IncidentSection:
    """The incident's section. The customers affected are those whose assets were lost:
    the refund plan's customers; else, when the theft left the holdings of its asset short
    of what customers are owed, every customer who held it when the incident opened (their
    claims are no longer covered); else none (the exchange's own holdings bore the loss)."""
    timeline = tuple(TimelineEvent(e["at"], e["kind"], e["actor"], e["detail"]) for e in events)
    mine = tuple(_alert(a) for a in alerts)
    lost: dict[str, int] = {}
    for a in mine:
        if a.kind == "theft" and a.amount and a.asset and a.chain_state != "retracted":
            lost[a.asset] = lost.get(a.asset, 0) + a.amount
    account = f"loss:{row['id']}"
    booked = custody.ledger.debits(account)  # as booked: refunds since settle, not undo it
    assets = set(lost) | {k for k, v in booked.items() if v} | (
        {row["asset"]} if row["asset"] else set())
    now = {p.asset: p for p in custody_positions(custody.ledger)}
    shortfall = {a: -now[a].coverage for a in sorted(assets)
                 if a in now and now[a].coverage < 0}
    affected: int | None
    if plan is not None:
        affected, source = plan.customers, "plan"
    elif shortfall:
        then = {p.asset: p for p in custody_positions(custody.ledger, at=row["opened"])}
        affected = max((then[a].customers for a in shortfall if a in then), default=0)
        source = "shortfall"
    else:
        affected, source = 0, "covered"
    ids = {a.id for a in mine}
    first = min((d for d in detections if d.alert in ids), key=lambda d: d.raised,
                default=None)
    return IncidentSection(
        id=row["id"], title=row["title"], state=row["state"], asset=row["asset"],
        wallet=row["wallet"], opened=row["opened"], closed=row["closed"], timeline=timeline,
        causes=tuple(e for e in timeline if e.kind in CAUSE_KINDS),
        measures=tuple(e for e in timeline if e.kind not in FINDING_KINDS),
        alerts=mine, lost_by_alerts=dict(sorted(lost.items())),
        lost_in_ledger={k: v for k, v in sorted(booked.items()) if v},
        customers_affected=affected, customers_source=source, detection=first,
        shortfall=shortfall)
