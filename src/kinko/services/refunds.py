"""Refund use cases: plan the refunds of an incident, write and check the plan, pay it.

::

    refunds = Refunds(ledger, Incidents(store, clock))
    plan = refunds.plan("INC-20180126-1", "XEM", price=Decimal("88.549"))
    refunds.write_plan(plan, Path("out/refunds"))          # plan.json + refunds.csv
    report = refunds.execute(Path("out/refunds"))          # one ledger entry per customer

*Snapshot.* The affected customers are those with a positive balance of the asset in the
ledger as it stood at the incident's first alert (its earliest ``raised`` time; an incident
opened by hand without alerts: its ``opened`` time), read with
:meth:`Ledger.balances(as_of_time=...) <kinko.services.ledger.Ledger.balances>`. Anything
booked later (deposits after the theft, the theft's own loss entry, refunds) does not change
who is owed what.

*Funds.* ``available = Σ bank:* − Σ customer:*`` in the currency, read in one transaction.
Entries balance per asset, so what customers are owed in yen equals the sum of every
*other* account's yen balance; reading those few accounts instead of 180,000 customer
balances keeps the check cheap (the identity is exact, not an estimate).

*Execution.* ``execute`` re-reads ``plan.json`` (its ``plan_id`` is a digest of its content)
and ``refunds.csv`` (its SHA-256 is in the plan), refuses a plan whose funds check failed, or
whose remaining refunds the exchange's yen no longer cover, unless an approved ``refund``
proposal (m-of-n Ed25519, :class:`~kinko.services.custody.Custody`) names the plan; then it
appends one entry per customer, keyed ``refund:<plan_id>:<customer>``, in batches. Each batch
is atomic and every key is idempotent, so a run that stopped after k batches is completed by
running it again: the first k batches come back as replays, nobody is paid twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

from kinko.atomic import write_atomic
from kinko.domain.approvals import ProposalKind
from kinko.domain.ledger import ACCOUNT_KINDS
from kinko.domain.messages import Message, Time, Units, Yen, id_shown, msg, os_refusal
from kinko.domain.money import Asset, format_units
from kinko.domain.refunds import (
    ROUNDINGS,
    PlanFile,
    PriceBasis,
    RefundPlan,
    Rounding,
    Trade,
    Vwap,
    build_plan,
    compute_vwap,
    parse_plan_document,
    parse_refunds_csv,
    parse_trades,
    plan_document,
    refund_keys,
    refund_postings,
    refunds_csv,
)
from kinko.errors import ApprovalError, BadInput, InputFileError, InvalidAmount
from kinko.ports import Store
from kinko.safeload import bounded_lines, loads_json, open_text, read_stream
from kinko.services.access import Access
from kinko.services.custody import Custody, ProposalView, unknown_proposal
from kinko.services.incidents import Incidents
from kinko.services.ledger import Draft, Ledger, no_cyclic_gc
from kinko.services.timeline import record

__all__ = ["ExecuteReport", "PlanFiles", "Refunds", "posted_refunds", "read_trades"]

PLAN_JSON = "plan.json"
REFUNDS_CSV = "refunds.csv"
PROPOSAL_KIND = "refund"


def _snapshot_source(source: str) -> Message:
    """What fixed a snapshot (:meth:`Refunds.snapshot`'s words) in the reader's language."""
    if source.startswith("alert "):
        return msg("error.refunds.snapshot_alert", id=source.removeprefix("alert ")[:80])
    return msg("error.refunds.snapshot_opened")


@dataclass(frozen=True)
class PlanFiles:
    plan_json: Path
    refunds_csv: Path
    plan_id: str
    document: dict[str, Any]


def posted_refunds(store: Store, plan_id: str) -> int:
    """How many of the plan's refunds the ledger holds (each customer's is one entry, keyed
    ``refund:<plan_id>:<customer>``: counted on the keys' index, not read)."""
    with store.reader() as tx:
        return tx.count_keys(f"refund:{plan_id}:")


@dataclass(frozen=True)
class ExecuteReport:
    plan_id: str
    customers: int
    posted: int  # entries written by this run
    replayed: int  # entries an earlier run had written already
    batches: int
    seconds: float
    total_yen: int
    remaining_yen: int  # what this run still had to pay when it started
    available_yen: int  # the exchange's yen beyond the customers' when it started
    override: str | None  # the approved proposal that allowed a shortfall
    currency: str = "JPY"  # what the refunds are paid in


def read_trades(path: Path) -> list[Trade]:
    """Every trade of a trades CSV (see :mod:`kinko.domain.refunds`)."""
    try:
        with open_text(path) as fh:
            return parse_trades(bounded_lines(fh, str(path)), str(path))
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}", file=str(path),
                             says=msg("error.file.cannot_read", file=str(path)[:200],
                                      reason=os_refusal(exc))) from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 text ({exc.reason})", file=str(path),
                             says=msg("error.customers.not_utf8", file=str(path)[:200],
                                      reason=str(exc.reason)[:200])) from None



class Refunds:
    """Refund plans over the ledger and the incidents (read only)."""

    def __init__(self, ledger: Ledger, incidents: Incidents, *,
                 custody: Custody | None = None) -> None:
        self.ledger = ledger
        self.incidents = incidents
        self.custody = custody or Custody(ledger)

    # ------------------------------------------------------------------ planning

    def snapshot(self, incident_id: str) -> tuple[datetime, str]:
        """The time the plan reads balances at, and why: the first alert, else the opening."""
        view = self.incidents.incident(incident_id)
        raised = [a for a in view.alerts if a.get("raised") is not None]
        if raised:
            first = min(raised, key=lambda a: (a["raised"], str(a["id"])))
            return first["raised"], f"alert {first['id']}"
        return view.incident["opened"], "incident opened"

    def plan(self, incident_id: str, asset: str, *, price: Decimal | None = None,
             trades: Path | None = None, window: tuple[datetime, datetime] | None = None,
             currency: str = "JPY", rounding: Rounding = "floor") -> RefundPlan:
        """Refund every customer who held ``asset`` at the incident snapshot, at a fixed
        ``price`` or at the VWAP of ``trades`` over ``window`` (``[from, to)``)."""
        coin = self.ledger.assets[asset]
        money = self._currency(currency)
        if rounding not in ROUNDINGS:
            raise BadInput(f"--rounding must be one of {', '.join(ROUNDINGS)}, not "
                           f"{rounding!r}",
                           says=msg("error.refunds.rounding", option="--rounding",
                                    roundings=", ".join(ROUNDINGS),
                                    rounding=str(rounding)[:80]))
        basis = self._price(price, trades, window)
        when, source = self.snapshot(incident_id)
        holdings = self._holdings(coin, when)
        if not holdings:
            raise BadInput(f"no customer held {coin.symbol} at the snapshot of {incident_id} "
                           f"({when.isoformat()}, {source}): nothing to refund",
                           incident=incident_id, asset=coin.symbol,
                           says=msg("error.refunds.no_holders", asset=coin.symbol[:80],
                                    incident=incident_id[:80], when=when.isoformat(),
                                    source=_snapshot_source(source)))
        bank, owed, as_of = self._funds(money)
        return build_plan(incident=incident_id, asset=coin, currency=money,
                          rounding=rounding, snapshot=when, snapshot_source=source,
                          price=basis, holdings=holdings, bank=bank, customers_owed=owed,
                          funds_as_of=as_of)

    def _currency(self, symbol: str) -> Asset:
        money = self.ledger.assets[symbol]
        if money.chain != "fiat":
            raise BadInput(f"--currency {symbol} is not a fiat currency (like JPY)",
                           says=msg("error.refunds.not_fiat", currency=symbol[:80]))
        return money

    def _price(self, price: Decimal | None, trades: Path | None,
               window: tuple[datetime, datetime] | None) -> PriceBasis:
        if (price is None) == (trades is None):
            raise BadInput("give either a fixed price (--price 88.549) or a trades file "
                           "(--vwap TRADES.csv --from T1 --to T2)",
                           says=msg("error.refunds.price_or_trades"))
        if price is not None:
            if not price.is_finite() or price <= 0:
                raise InvalidAmount(f"price {price} must be above 0",
                                    says=msg("error.refunds.not_positive",
                                             what=msg("error.refunds.word.price"),
                                             value=str(price)[:80]))
            return PriceBasis(price, "fixed")
        assert trades is not None
        if window is None:
            raise BadInput("a VWAP needs its window: --from T1 --to T2",
                           says=msg("error.refunds.vwap_window"))
        vwap: Vwap = compute_vwap(read_trades(trades), window[0], window[1],
                                  name=str(trades))
        return PriceBasis(vwap.price, "vwap", trades.name, vwap)

    def _holdings(self, asset: Asset, at: datetime) -> list[tuple[str, int]]:
        """(customer id, minor units) of every customer with a positive balance at ``at``,
        in account order; one grouped query, no per-customer round trip."""
        with no_cyclic_gc():  # 260,000 rows of small records form no cycles
            rows = self.ledger.balances(kind="customer", asset=asset.symbol, as_of_time=at)
            skip = len("customer:")
            # customers are credit-normal: what one is owed is minus the posted balance
            return [(r.account[skip:], -r.state.balance) for r in rows if r.state.balance < 0]

    def _funds(self, currency: Asset) -> tuple[int, int, datetime]:
        """(Σ bank:*, Σ owed to customer:*, when) in the currency, from one transaction."""
        now = self.ledger.clock.now()
        bank = others = 0
        with self.ledger.store.reader() as tx:
            for kind in ACCOUNT_KINDS:
                if kind == "customer":
                    continue
                for r in tx.balances(kind=kind, asset=currency.symbol):
                    others += r.state.balance
                    if kind == "bank":
                        bank += r.state.balance
        # Σ of every balance of an asset is 0, so Σ customer = −others, and what customers
        # are owed (credit-normal) is −Σ customer = others
        return bank, others, now

    # ------------------------------------------------------------------ files

    def write_plan(self, plan: RefundPlan, folder: Path) -> PlanFiles:
        """Write ``refunds.csv`` then ``plan.json`` (which carries the CSV's digest), each
        atomically. A folder already holding a different plan is refused."""
        data = refunds_csv(plan)
        document = plan_document(plan, hashlib.sha256(data).hexdigest())
        self._not_paid_yet(str(document["plan_id"]), plan.customers)
        folder.mkdir(parents=True, exist_ok=True)
        plan_path, csv_path = folder / PLAN_JSON, folder / REFUNDS_CSV
        if plan_path.exists():
            try:
                with plan_path.open("rb") as fh:
                    old = loads_json(read_stream(fh, str(plan_path)), str(plan_path)
                                     ).get("plan_id")
            except (OSError, BadInput, AttributeError):
                old = None
            if old != document["plan_id"]:
                raise BadInput(f"{folder} already holds refund plan {old or '(unreadable)'}; "
                               "write this plan to another folder", folder=str(folder),
                               says=msg("error.refunds.folder_taken", folder=str(folder)[:200],
                                        plan=str(old)[:80] if old else msg(
                                            "error.reserves.snapshot_unreadable")))
        write_atomic(csv_path, data)
        write_atomic(plan_path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return PlanFiles(plan_path, csv_path, str(document["plan_id"]), document)

    def _not_paid_yet(self, plan_id: str, customers: Sequence[str]) -> None:
        """Refuse to write again a plan whose refunds were posted (the same refunds planned
        again have the same id): its funds check would count the yen already paid as the
        customers' and find the plan short, and a folder rewritten so would no longer say
        what was paid (nor be paid any further without an override)."""
        posted = posted_refunds(self.ledger.store, plan_id)
        if posted:
            raise BadInput(f"refund plan {plan_id} has been paid already ({posted:,} of "
                           f"{len(customers):,} refunds posted): its folder keeps the plan as "
                           "it was paid, and nothing was written (`kinko refunds execute DIR` "
                           "completes a stopped run)", plan=plan_id,
                           says=msg("error.refunds.already_paid", plan=plan_id[:80],
                                    posted=posted, customers=len(customers)))

    def read_plan(self, folder: Path) -> PlanFile:
        """``plan.json`` and ``refunds.csv`` of ``folder``, checked against each other: an
        edited plan or CSV is refused."""
        plan_path, csv_path = folder / PLAN_JSON, folder / REFUNDS_CSV
        try:
            with plan_path.open("rb") as fh:
                document = loads_json(read_stream(fh, str(plan_path)), str(plan_path),
                                      error=InputFileError)
            data = csv_path.read_bytes()
        except FileNotFoundError as exc:
            raise InputFileError(f"{exc.filename}: no such file (write a plan with `kinko "
                                 "refunds plan ... --out DIR`)", file=str(exc.filename),
                                 says=msg("error.refunds.no_plan_file",
                                          file=str(exc.filename)[:200])) from None
        except OSError as exc:
            raise InputFileError(f"{exc.filename}: cannot read: {exc.strerror}",
                                 says=msg("error.file.cannot_read",
                                          file=str(exc.filename)[:200],
                                          reason=os_refusal(exc))) from None
        document = parse_plan_document(document, str(plan_path))
        digest = hashlib.sha256(data).hexdigest()
        if digest != document["refunds_csv_sha256"]:
            raise InputFileError(f"{csv_path}: its SHA-256 {digest[:16]}… is not the "
                                 f"{str(document['refunds_csv_sha256'])[:16]}… recorded in "
                                 f"{plan_path}: the refunds were altered; nothing was posted",
                                 file=str(csv_path),
                                 says=msg("error.refunds.csv_altered", file=str(csv_path)[:200],
                                          digest=digest[:16],
                                          recorded=str(document["refunds_csv_sha256"])[:16],
                                          plan=str(plan_path)[:200]))
        asset = self.ledger.assets[str(document["asset"])]
        if asset.decimals != document.get("decimals"):
            raise InputFileError(f"{plan_path}: {asset.symbol} has {asset.decimals} decimals "
                                 f"here, the plan says {document.get('decimals')}",
                                 says=msg("error.refunds.decimals", file=str(plan_path)[:200],
                                          asset=asset.symbol, decimals=asset.decimals,
                                          planned=str(document.get("decimals"))[:80]))
        self._currency(str(document["currency"]))
        return parse_refunds_csv(data, str(csv_path), document, asset)

    # ------------------------------------------------------------------ override

    def propose_override(self, folder: Path, proposer: str) -> ProposalView:
        """Put paying a plan despite a funds shortfall to the custody quorum."""
        plan = self.read_plan(folder)
        available, remaining = self._remaining(plan)
        short = max(0, remaining - available)
        if plan.confirmed and not short:
            raise BadInput(f"plan {plan.plan_id}: funds are confirmed; no override is needed",
                           says=msg("error.refunds.no_override_needed",
                                    plan=plan.plan_id[:80]))
        payload: dict[str, object] = {
            "plan_id": plan.plan_id, "incident": plan.incident, "asset": plan.asset,
            "currency": plan.currency, "required": str(remaining),
            "available": str(available),
            "shortfall": str(max(short, plan.shortfall))}
        return self.custody.propose(
            PROPOSAL_KIND, payload, proposer, msg(
                "proposal.refund_override", plan=plan.plan_id, incident=plan.incident,
                shortfall=Yen(max(short, plan.shortfall)) if plan.currency == "JPY"
                else f"{max(short, plan.shortfall):,} {plan.currency}"))

    def _paid(self, plan: PlanFile, posted: int, by: str, actor: str,
              override: str | None) -> None:
        """A run that paid refunds: on the incident's timeline and in the audit log."""
        now = self.ledger.clock.now()
        total = (Yen(plan.total_refund) if plan.currency == "JPY"
                 else f"{plan.total_refund:,} {plan.currency}")
        with self.ledger.store.unit():  # both or neither
            record(self.ledger.store, plan.incident, now, "refund", by, msg(
                "timeline.refunds.paid", plan=plan.plan_id, posted=posted,
                customers=len(plan.customers), total=total, asset=plan.asset))
            Access(self.ledger.store, self.ledger.clock).audit(
                actor, "refund.execute", plan.plan_id,
                {"incident": plan.incident, "asset": plan.asset, "currency": plan.currency,
                 "posted": posted, "customers": len(plan.customers),
                 "total": str(plan.total_refund), "override": override})

    def _check_override(self, plan: PlanFile, proposal_id: str, short: int) -> ProposalView:
        """The approved ``refund`` proposal for this plan, covering a shortfall of ``short``."""
        shown = id_shown(proposal_id)  # a caller's id: quoted short, never whole
        view = self.custody.proposal(proposal_id)
        if view is None:
            raise unknown_proposal(proposal_id)
        p = view.proposal
        if p.kind != PROPOSAL_KIND or p.payload.get("plan_id") != plan.plan_id:
            raise ApprovalError(f"proposal {shown} is not an override for refund plan "
                                f"{plan.plan_id} (it is a {p.kind} proposal)",
                                says=msg("error.refunds.not_an_override", id=shown,
                                         plan=plan.plan_id[:80],
                                         kind=msg(f"prop.kind.{p.kind}")
                                         if p.kind in get_args(ProposalKind) else p.kind[:80]))
        approved = int(str(p.payload.get("shortfall", "0")))
        if short > approved:
            raise ApprovalError(f"override {shown} allows a shortfall of {approved} "
                                f"{plan.currency}; it is {short} now: propose again",
                                says=msg("error.refunds.override_short", id=shown,
                                         approved=approved, currency=plan.currency[:80],
                                         short=short))
        if view.state == "executed":
            return view  # an earlier run used it; completing that run is allowed
        if view.state != "approved":
            raise ApprovalError(f"proposal {shown} is {view.state} with "
                                f"{len(view.approvals)} of {view.quorum} approvals; only a "
                                "quorum-approved override allows a shortfall",
                                says=msg("error.refunds.override_not_approved",
                                         id=shown,
                                         state=msg(f"prop.state.{view.state}"),
                                         approvals=len(view.approvals), quorum=view.quorum))
        # its stored expiry, or sooner the lifetime the policy in force grants (as for an
        # approval and an execution)
        lapsed = view.lapses_at
        if self.ledger.clock.now() >= lapsed:
            raise ApprovalError(f"override {shown} expired at "
                                f"{lapsed.isoformat()}: propose it again",
                                says=msg("error.refunds.override_expired", id=shown,
                                         at=Time(lapsed)))
        return view

    # ------------------------------------------------------------------ execution

    def _remaining(self, plan: PlanFile) -> tuple[int, int]:
        """(yen available now, yen of this plan's refunds not yet posted)."""
        keys = refund_keys(plan.plan_id, plan.customers)
        with self.ledger.store.reader() as tx:
            done = tx.known_keys(keys)
        remaining = sum(r for k, r in zip(keys, plan.refunds, strict=True) if k not in done)
        bank, owed, _ = self._funds(self.ledger.assets[plan.currency])
        return bank - owed, remaining

    def _nothing_reserved(self, plan: PlanFile) -> None:
        """Refuse to pay ``plan`` while a pending hold reserves some of its asset on a
        customer it refunds (a withdrawal still waiting): the claim in yen and the coins
        the hold would send cannot both be paid, and the refund's entry would overdraw."""
        refunded = {f"customer:{c}" for c in plan.customers}
        held = [h for h in self.ledger.pending_holds()
                if h.asset == plan.asset and h.debit in refunded]
        if not held:
            return
        first = min(held, key=lambda h: (h.debit, h.id))
        coin = self.ledger.assets[plan.asset]
        customers = len({h.debit for h in held})
        raise BadInput(
            f"refund plan {plan.plan_id} was not paid: {customers} of its customers have "
            f"{plan.asset} reserved by a pending hold (first: {first.id} of {first.debit}, "
            f"{format_units(first.amount, coin, group=True)} {plan.asset}); reject or void "
            "each (`kinko withdrawals reject ID --by NAME --reason ...`) before its customer "
            "is refunded; nothing was posted", plan=plan.plan_id,
            holds=[h.id for h in held][:50],
            says=msg("error.refunds.reserved", plan=plan.plan_id[:80], count=customers,
                     asset=plan.asset[:80], hold=first.id[:80], account=first.debit[:200],
                     amount=Units(first.amount, coin.symbol, coin.decimals)))

    def execute(self, folder: Path, *, override_proposal: str | None = None,
                batch_size: int = 5000,
                progress: Callable[[int, int], None] | None = None,
                by: str = "kinko", actor: str | None = None) -> ExecuteReport:
        """Post every refund of the plan in ``folder``; ``progress(done, total)`` is called
        after each committed batch. Rerunning completes an interrupted run. A run that paid
        anyone is on the incident's timeline (by ``by``) and in the audit log
        (``refund.execute``, under ``actor``: by default ``by``); a rerun that found
        everything paid writes nothing."""
        if batch_size < 1:
            raise BadInput("the batch size must be at least 1",
                           says=msg("error.refunds.batch_size"))
        started = time.perf_counter()
        plan = self.read_plan(folder)
        self.incidents.incident(plan.incident)
        self._nothing_reserved(plan)
        available, remaining = self._remaining(plan)
        short = max(0, remaining - available)
        view = None
        if not plan.confirmed or short > 0:
            if override_proposal is None:
                why = (f"its funds check failed (short by {plan.shortfall} {plan.currency})"
                       if not plan.confirmed else
                       f"the {remaining} {plan.currency} still to pay exceed the "
                       f"{available} available now by {short}")
                reason = (msg("error.refunds.funds_failed", short=plan.shortfall,
                              currency=plan.currency[:80])
                          if not plan.confirmed else
                          msg("error.refunds.funds_exceeded", remaining=remaining,
                              currency=plan.currency[:80], available=available, short=short))
                raise BadInput(f"refund plan {plan.plan_id} was not paid: {why}; nothing was "
                               "posted. Add funds and plan again, or have the quorum approve "
                               "an override (`kinko refunds override DIR --by NAME`)",
                               plan=plan.plan_id,
                               says=msg("error.refunds.not_paid", plan=plan.plan_id[:80],
                                        why=reason))
            view = self._check_override(plan, override_proposal, short)
        elif override_proposal is not None:
            view = self._check_override(plan, override_proposal, short)
        source = f"refund-plan:{plan.plan_id}"
        memo = (f"{plan.incident}: {plan.asset} claim refunded at {format(plan.price, 'f')} "
                f"{plan.currency}/{plan.asset}")
        keys = refund_keys(plan.plan_id, plan.customers)
        total = len(keys)
        posted = replayed = batches = 0
        for lo in range(0, total, batch_size):
            hi = min(lo + batch_size, total)
            drafts = [
                Draft(keys[i], "transfer",
                      refund_postings(plan.incident, plan.asset, plan.currency,
                                      plan.customers[i], plan.units[i], plan.refunds[i]),
                      source=source, memo=memo)
                for i in range(lo, hi)]
            for appended in self.ledger.append(drafts):
                if appended.replayed:
                    replayed += 1
                else:
                    posted += 1
            batches += 1
            if progress is not None:
                progress(hi, total)
        if view is not None and view.state == "approved":
            self.custody.mark_executed(view.proposal.id)
        if posted:
            self._paid(plan, posted, by.strip() or "kinko", (actor or by).strip() or "kinko",
                       override_proposal)
        return ExecuteReport(plan.plan_id, total, posted, replayed, batches,
                             time.perf_counter() - started, plan.total_refund, remaining,
                             available, override_proposal, plan.currency)
