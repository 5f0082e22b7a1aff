"""``kinko report fsa``: the report to the FSA (ja/en; HTML, PDF or Markdown + CSV appendix).

Thin: it resolves the files the report quotes (the benchmark results beside the checkout,
the hot keystores), calls :func:`kinko.services.fsa.fsa_report` and writes the result with
:func:`kinko.render.fsa.write_fsa`; the folder is indexed as an artifact of kind ``fsa`` (the
dashboard lists it with its downloads).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from kinko.cli.custody import report_app
from kinko.cli.runtime import parse_time, runtime
from kinko.errors import BadInput
from kinko.ports import SystemClock
from kinko.render.fsa import FORMATS, write_fsa
from kinko.services.artifacts import Artifacts
from kinko.services.fsa import fsa_report

__all__ = ["report_fsa"]


def _benchmarks(given: Path | None) -> Path | None:
    """The benchmark results quoted for the watch's latency: the file given, else
    ``benchmarks/RESULTS.md`` in the working folder or in kinko's own checkout."""
    if given is not None:
        if not given.is_file():
            raise BadInput(f"--benchmarks {given}: no such file")
        return given
    here = Path(__file__).resolve().parents[3] / "benchmarks" / "RESULTS.md"
    for candidate in (Path("benchmarks") / "RESULTS.md", here):
        if candidate.is_file():
            return candidate
    return None


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
    lang: str = typer.Option("ja", "--lang", help="ja (default) or en."),
    fmt: str = typer.Option("html", "--format", "-f", help="html, pdf or md."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the report into."),
    benchmarks: Path = typer.Option(None, "--benchmarks", help="Benchmark results quoted for "
                                    "the watch's measured latency (default: "
                                    "benchmarks/RESULTS.md when present)."),
    positions_at: str = typer.Option(None, "--positions-at", help="Section 1 as the ledger "
                                     "stood at this time (ISO 8601 with zone), e.g. when the "
                                     "incident began; default now."),
) -> None:
    """The FSA report: online share per asset, wallet operation, detection, response and,
    for an incident, cause, losses, refunds and the source of their funds."""
    if lang not in ("ja", "en"):
        raise BadInput(f"--lang must be ja or en, not {lang!r}")
    if fmt not in FORMATS:
        raise BadInput(f"--format must be html, pdf or md, not {fmt!r}")
    started = time.perf_counter()
    rt = runtime(ctx)
    custody = rt.custody()
    report = fsa_report(custody, incident=incident, refund_plan=refund_plan, trace=trace,
                        trace_asset=trace_asset, benchmarks=_benchmarks(benchmarks),
                        confirmations=rt.settings.confirmations,
                        keystore_dir=Path(rt.settings.hot_keystore_dir),
                        positions_at=parse_time(positions_at) if positions_at else None)
    paths = write_fsa(report, out, fmt, lang)
    Artifacts(rt.store(), SystemClock()).record(
        "fsa", f"FSA report ({lang}, {fmt})" + (f" for {incident}" if incident else ""), out,
        by="kinko report fsa", incident=incident,
        detail={"lang": lang, "format": fmt, "files": [p.name for p in paths]})
    for path in paths:
        print(f"wrote {path}")
    print(f"FSA report ({lang}, {fmt}) in {time.perf_counter() - started:.1f} s")
