"""``kinko report fsa``: the report to the FSA (ja/en; HTML, PDF or Markdown + CSV appendix).

Thin: it resolves the files the report reads (the hot keystores, a refund plan, a trace),
calls :func:`kinko.services.fsa.fsa_report` with the cover's ``[exchange]`` settings and
writes the result with :func:`kinko.render.fsa.write_fsa`; the folder is indexed as an
artifact of kind ``fsa`` (the dashboard lists it with its downloads). What an operator may
want to add (a refund plan, a trace, the cover's fields) is said here, on the terminal,
never in the document.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from kinko.cli.custody import report_app
from kinko.cli.runtime import parse_time, runtime
from kinko.domain.fsa import FsaReport
from kinko.domain.messages import N_, msg
from kinko.errors import BadInput
from kinko.ports import SystemClock
from kinko.render.fsa import FORMATS, write_fsa
from kinko.services.artifacts import Artifacts
from kinko.services.fsa import fsa_report

__all__ = ["fsa_hints", "report_fsa"]


@report_app.command("fsa")
def report_fsa(
    ctx: typer.Context,
    incident: str = typer.Option(None, "--incident", help="Add the incident's section: "
                                 "timeline, cause, losses, customers, refunds, measures."),
    refund_plan: Path = typer.Option(None, "--refund-plan", help="Folder of `kinko refunds "
                                     "plan --out` (plan.json, refunds.csv)."),
    trace: Path = typer.Option(None, "--trace", help="Folder of `kinko trace run --out`."),
    trace_asset: str = typer.Option(None, "--trace-asset", help="The traced asset (default: "
                                    "the incident's)."),
    lang: str = typer.Option(None, "--lang", help="ja or en (default: the lang setting when "
                             "set, else ja)."),
    fmt: str = typer.Option("html", "--format", "-f", help="html, pdf or md."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the report into."),
    positions_at: str = typer.Option(None, "--positions-at", help="Section 1 as the ledger "
                                     "stood at this time (ISO 8601 with zone), e.g. when the "
                                     "incident began; default now."),
) -> None:
    """The FSA report: online share per asset, wallet operation, detection, response and,
    for an incident, cause, losses, refunds and the source of their funds."""
    rt = runtime(ctx)
    lang = rt.lang_for(lang, document=True)
    if fmt not in FORMATS:
        raise BadInput(f"--format must be html, pdf or md, not {fmt!r}",
                       says=msg("error.cli.format", formats="html, pdf, md",
                                format=repr(fmt[:80])))
    started = time.perf_counter()
    custody = rt.custody()
    report = fsa_report(custody, incident=incident, refund_plan=refund_plan, trace=trace,
                        trace_asset=trace_asset, confirmations=rt.settings.confirmations,
                        keystore_dir=Path(rt.settings.hot_keystore_dir),
                        positions_at=parse_time(positions_at) if positions_at else None,
                        submitter=rt.settings.exchange)
    paths = write_fsa(report, out, fmt, lang)
    Artifacts(rt.store(), SystemClock()).record(
        "fsa", msg(N_("artifact.fsa.incident") if incident else N_("artifact.fsa"),
                   lang=msg(f"lang.{lang}"), incident=incident or ""), out,
        by="kinko report fsa", incident=incident,
        detail={"lang": lang, "format": fmt, "files": [p.name for p in paths]})
    say = rt.say
    for path in paths:
        print(say("cli.wrote", path=str(path)))
    for hint in fsa_hints(report):
        print(say(hint))
    print(say("cli.fsa.done", lang=say(f"lang.{lang}"), format=fmt,
              seconds=f"{time.perf_counter() - started:.1f}"))


def fsa_hints(report: FsaReport) -> list[str]:
    """What the operator may add to the report (said on the terminal, not in it)."""
    hints = []
    sub = report.submitter
    if not (sub.name and sub.registration and sub.representative):
        hints.append("cli.fsa.hint_exchange")
    if report.incident is not None and report.refund_plan is None:
        hints.append("cli.fsa.hint_plan")
    if report.incident is not None and report.trace is None:
        hints.append("cli.fsa.hint_trace")
    if report.incident is not None and not report.incident.causes:
        hints.append("cli.fsa.hint_cause")
    return hints
