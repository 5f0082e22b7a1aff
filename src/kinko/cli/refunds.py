"""``kinko refunds plan|show|override|execute``: refund an incident's customers in yen.

``plan`` prints the summary (customers, total, price and how it was computed, total yen,
rounding remainder, funds check) and writes ``plan.json`` and ``refunds.csv``; it exits 1
when the funds check finds a shortfall (a finding, like a custody breach); the plan's folder
is indexed as an artifact of kind ``refunds`` (the dashboard lists its totals). ``execute``
posts the plan; ``override`` puts paying a short plan to the approvers' quorum.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from kinko.cli.app import app
from kinko.cli.progress import progress
from kinko.cli.runtime import Runtime, cli_actor, emit, format_option, parse_time, runtime, word
from kinko.domain.messages import N_, msg
from kinko.domain.money import format_units
from kinko.domain.refunds import PlanFile, parse_price
from kinko.errors import BadInput
from kinko.i18n import Localizer
from kinko.ports import SystemClock
from kinko.services.artifacts import Artifacts
from kinko.services.incidents import Incidents
from kinko.services.refunds import Refunds

refunds_app = typer.Typer(help="Refund plans: who is paid how much, and is the money there.",
                          no_args_is_help=True)
app.add_typer(refunds_app, name="refunds")


def _refunds(rt: Runtime) -> Refunds:
    ledger = rt.ledger()
    return Refunds(ledger, Incidents(rt.store(), SystemClock()), custody=rt.custody())


def _yen(text: Any, currency: str) -> str:
    value = str(text)
    if value.lstrip("-").isdigit():
        return f"{int(value):,} {currency}"
    return f"{value} {currency}"


# The summary's fields: their names are the keys of --format json and csv, their words a
# table's (cli.refunds.field.<name>).
_FIELDS = {"plan": N_("cli.refunds.field.plan"), "incident": N_("cli.refunds.field.incident"),
           "snapshot": N_("cli.refunds.field.snapshot"),
           "customers": N_("cli.refunds.field.customers"),
           "total units": N_("cli.refunds.field.total_units"),
           "price": N_("cli.refunds.field.price"),
           "price computed": N_("cli.refunds.field.price_computed"),
           "rounding": N_("cli.refunds.field.rounding"),
           "total refund": N_("cli.refunds.field.total_refund"),
           "exact total": N_("cli.refunds.field.exact_total"),
           "remainder": N_("cli.refunds.field.remainder"),
           "zero refunds": N_("cli.refunds.field.zero_refunds"),
           "bank": N_("cli.refunds.field.bank"),
           "customers' yen": N_("cli.refunds.field.customers_yen"),
           "available": N_("cli.refunds.field.available"),
           "required": N_("cli.refunds.field.required"),
           "funds check": N_("cli.refunds.field.funds_check")}


def _summary(doc: dict[str, Any], rt: Runtime, fmt: str) -> list[list[str]]:
    """The plan document as (field, value) rows, amounts grouped for reading; in a table,
    in the command line's language."""
    say = rt.cells(fmt)
    asset, ccy = str(doc["asset"]), str(doc["currency"])
    price = doc["price"]
    if price["method"] == "vwap":
        how = say("cli.refunds.vwap", trades=str(price["trades"]), file=price["trades_file"],
                  start=price["from"], end=price["to"], pv=price["sum_price_volume"],
                  v=price["sum_volume"], exact=price["vwap_exact"],
                  places=str(price.get("places", 3)))
    else:
        how = say("cli.refunds.fixed")
    funds = doc["funds"]
    verdict = (say("cli.refunds.confirmed") if funds["confirmed"] else
               say("cli.refunds.short", amount=_yen(funds["shortfall_yen"], ccy)))
    units = int(doc["total_units"])
    rows = [
        ["plan", str(doc["plan_id"])],
        ["incident", str(doc["incident"])],
        ["snapshot", say("cli.refunds.snapshot", at=str(doc["snapshot"]),
                         source=_source(say, str(doc.get("snapshot_source", ""))))],
        ["customers", f"{int(doc['customers']):,}"],
        ["total units", say("cli.refunds.units", amount=format_units(
            units, rt.assets[asset], group=True), asset=asset, units=str(units))],
        ["price", f"{price['value']} {ccy}/{asset}"],
        ["price computed", how],
        ["rounding", say("cli.refunds.rounding", rounding=word(say, "rounding",
                                                                 doc["rounding"]),
                         currency=ccy)],
        ["total refund", _yen(doc["total_yen"], ccy)],
        ["exact total", _yen(doc["exact_total_yen"], ccy)],
        ["remainder", say("cli.refunds.remainder", amount=_yen(doc["remainder_yen"], ccy))],
        ["zero refunds", str(doc.get("zero_refunds", ""))],
        ["bank", _yen(funds["bank_yen"], ccy)],
        ["customers' yen", _yen(funds["customers_yen"], ccy)],
        ["available", say("cli.refunds.available", amount=_yen(funds["available_yen"], ccy),
                          at=str(funds["as_of"]))],
        ["required", _yen(funds["required_yen"], ccy)],
        ["funds check", verdict],
    ]
    if fmt == "table":
        return [[say(_FIELDS[name]), value] for name, value in rows]
    return rows


def _source(say: Localizer, text: str) -> str:
    """What fixed the plan's snapshot, in the plan file's words ("alert A-1" or "incident
    opened"), as ``say`` says them (the English catalog's words are the file's)."""
    alert = re.fullmatch(r"alert (\S+)", text)
    if alert:
        return say("fsa.source_alert", alert=alert.group(1))
    return say("fsa.source_opened") if text == "incident opened" else text


@refunds_app.command("plan")
def refunds_plan(
    ctx: typer.Context,
    incident: str = typer.Argument(..., help="Incident id (kinko incidents list)."),
    asset: str = typer.Option(..., "--asset", help="The stolen asset whose holders are "
                              "refunded, e.g. XEM."),
    price: str = typer.Option(None, "--price", help="Fixed reference price per whole unit "
                              "(e.g. 88.549)."),
    vwap: Path = typer.Option(None, "--vwap", help="Trades CSV (time,price,amount) whose "
                              "volume-weighted average over --from/--to is the price."),
    start: str = typer.Option(None, "--from", help="VWAP window start (inclusive), ISO 8601 "
                              "with a zone."),
    end: str = typer.Option(None, "--to", help="VWAP window end (exclusive)."),
    currency: str = typer.Option("JPY", "--currency", help="Refund currency."),
    rounding: str = typer.Option("floor", "--rounding", help="Per customer: floor or "
                                 "half-up."),
    out: Path = typer.Option(..., "--out", help="Folder for plan.json and refunds.csv."),
    fmt: str = format_option(),
) -> None:
    """Plan the refunds: customers at the snapshot, price, yen per customer, funds check."""
    rt = runtime(ctx)
    if vwap is None and (start is not None or end is not None):
        raise BadInput("--from and --to go with --vwap",
                       says=msg("error.refunds.window_needs_vwap"))
    window = None
    if vwap is not None:
        if start is None or end is None:
            raise BadInput("--vwap needs its window: --from T1 --to T2",
                           says=msg("error.refunds.vwap_needs_window"))
        window = (parse_time(start), parse_time(end))
    fixed: Decimal | None = parse_price(price) if price is not None else None
    service = _refunds(rt)
    plan = service.plan(incident, asset.upper(), price=fixed, trades=vwap, window=window,
                        currency=currency.upper(), rounding=rounding)  # type: ignore[arg-type]
    files = service.write_plan(plan, out)
    Artifacts(rt.store(), SystemClock()).record(
        "refunds", msg("artifact.refunds", plan=str(files.document["plan_id"])), out,
        by="kinko refunds plan",
        incident=incident, detail={"plan_id": files.document["plan_id"]})
    emit(["field", "value"], _summary(files.document, rt, fmt), fmt,
         title=rt.say("cli.refunds.title"))
    if fmt == "table":
        print(rt.say("cli.refunds.wrote", plan=str(files.plan_json),
                     refunds=str(files.refunds_csv)))
    if not plan.funds.confirmed:
        raise typer.Exit(1)


@refunds_app.command("show")
def refunds_show(ctx: typer.Context,
                 folder: Path = typer.Argument(..., help="The plan's folder."),
                 fmt: str = format_option()) -> None:
    """Show a written plan after checking plan.json and refunds.csv against each other."""
    rt = runtime(ctx)
    plan: PlanFile = _refunds(rt).read_plan(folder)
    emit(["field", "value"], _summary(plan.document, rt, fmt), fmt,
         title=rt.say("cli.refunds.title_verified"))


@refunds_app.command("override")
def refunds_override(ctx: typer.Context,
                     folder: Path = typer.Argument(..., help="The plan's folder."),
                     by: str = typer.Option(..., "--by", help="Your name (the proposer).")
                     ) -> None:
    """Propose paying a plan despite a funds shortfall; the approvers' quorum decides."""
    view = _refunds(runtime(ctx)).propose_override(folder, by)
    payload = view.proposal.payload
    print(runtime(ctx).say("cli.refunds.override", id=view.proposal.id,
                           plan=str(payload["plan_id"]),
                           shortfall=f"{payload['shortfall']} {payload['currency']}",
                           quorum=str(view.quorum)))


@refunds_app.command("execute")
def refunds_execute(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="The plan's folder."),
    override: str = typer.Option(None, "--override", help="An approved refund proposal that "
                                 "allows paying despite a funds shortfall."),
    batch_size: int = typer.Option(5000, "--batch-size", help="Refunds per ledger batch."),
    by: str = typer.Option(None, "--by", help="Who pays the refunds (named on the "
                           "incident's timeline and in the audit log)."),
) -> None:
    """Post every refund as an idempotent ledger entry; rerun to complete a stopped run."""
    service = _refunds(runtime(ctx))
    say = runtime(ctx).say
    who = (by or "").strip()
    with progress(say("cli.progress.refunds")) as advance:
        report = service.execute(folder, override_proposal=override, batch_size=batch_size,
                                 progress=advance, by=who or "kinko refunds execute",
                                 actor=cli_actor(who))
    counts = dict(plan=str(report.plan_id), customers=f"{report.customers:,}",
                  posted=f"{report.posted:,}", replayed=f"{report.replayed:,}",
                  batches=str(report.batches), seconds=f"{report.seconds:.1f}",
                  total=f"{report.total_yen:,} {report.currency}")
    print(say("cli.refunds.executed_override", override=str(report.override), **counts)
          if report.override else say("cli.refunds.executed", **counts))

