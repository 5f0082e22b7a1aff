"""Respond-and-report benchmarks: a refund plan for every customer of the demo
exchange, and the full FSA report, each run as the operator runs it (``kinko`` in its own
process, so start-up and imports count and peak memory is that process's alone).

The data are the demo's own (``kinko demo`` writes them: 260,000 customers, the 2018
setup's incident, its trace): the plan reads every customer's XEM balance as of the
incident's snapshot; the report reads the whole ledger, the policy, the incident and the
trace and writes a Japanese PDF through WeasyPrint. Baselines of the same run:

- for the plan, ``kinko balances --kind customer --asset XEM --format csv`` (the same rows,
  read and printed, no refund logic): the plan's cost is a ratio to it;
- for the report, ``kinko report custody --format html`` (section 1 alone).

The report checks the books first (no report is written from a journal that does not
verify): ``kinko ledger verify`` is timed on its own too, to say how much of the report
that check is.

Targets: plan under 2 s, report under 10 s. The same two steps are also timed
inside one process after the imports, to separate the work from ``kinko``'s start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KINKO = [sys.executable, "-c", "import sys; from kinko.cli import main; sys.exit(main())"]


def _timed(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Run one ``kinko`` command; its wall seconds and peak RSS (MB)."""
    started = time.perf_counter()
    proc = subprocess.Popen([*KINKO, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: findings (funds short, breach)
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"kinko {' '.join(args)} failed: {err[-500:]}")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}


_IN_PROCESS = """
import json, sys, time
from decimal import Decimal
from pathlib import Path
from kinko.domain.money import AssetRegistry
from kinko.ports import SystemClock
from kinko.prices import FixedPrices
from kinko.render.fsa import write_fsa
from kinko.services.custody import Custody
from kinko.services.fsa import fsa_report
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.refunds import Refunds
from kinko.store import open_store
db, incident, trace, out = sys.argv[1:5]
store = open_store(db)
ledger = Ledger(store, SystemClock(), AssetRegistry.default())
ledger.sync_assets()
refunds = Refunds(ledger, Incidents(store, SystemClock(), ledger))
started = time.perf_counter()
plan = refunds.plan(incident, "XEM", price=Decimal("88.549"), rounding="floor")
refunds.write_plan(plan, Path(out) / "plan")
planned = time.perf_counter() - started
custody = Custody(ledger, prices=FixedPrices({"XEM": Decimal("88.549"),
                                             "ETH": Decimal(120000)}))
started = time.perf_counter()
report = fsa_report(custody, refund_plan=Path(out) / "plan", trace=Path(trace))
write_fsa(report, Path(out) / "fsa", "pdf", "ja")
print(json.dumps({"plan": planned, "fsa": time.perf_counter() - started}))
"""


def _in_process(db: str, incident: str, trace: Path, out: Path) -> dict[str, float]:
    """The plan and the report inside one warmed-up process: the work alone, no start-up."""
    proc = subprocess.run([sys.executable, "-c", _IN_PROCESS, db, incident, str(trace),
                           str(out)], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(customers: int = 260_000) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="kinko-bench-respond-"))
    try:
        env = {**os.environ, "KINKO_LOG_LEVEL": "ERROR"}
        env.pop("KINKO_DATABASE_URL", None)
        started = time.perf_counter()
        subprocess.run([*KINKO, "demo", "--customers", str(customers), "--dir", "d"],
                       cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        demo_seconds = time.perf_counter() - started
        plan = json.loads((folder / "d" / "refunds-2018" / "plan.json").read_text())
        db = {**env, "KINKO_DATABASE_URL": f"sqlite:///{folder / 'd' / 'coincheck-2018.db'}",
              "KINKO_PRICES": "XEM=88.549,ETH=120000"}
        figures: dict[str, Any] = {"customers": customers, "demo_seconds": demo_seconds,
                                   "refund_customers": plan["customers"]}
        figures["balances"] = _timed(["balances", "--kind", "customer", "--asset", "XEM",
                                      "--format", "csv"], db, folder)
        figures["plan"] = _timed(["refunds", "plan", plan["incident"], "--asset", "XEM",
                                  "--price", "88.549", "--out", "plan"], db, folder)
        figures["custody"] = _timed(["report", "custody", "--format", "html", "--out",
                                     "custody.html"], db, folder)
        figures["fsa"] = _timed(["report", "fsa", "--refund-plan", "plan", "--trace",
                                 str(folder / "d" / "trace" / "haircut"), "--format", "pdf",
                                 "--out", "fsa"], db, folder)
        figures["verify"] = _timed(["ledger", "verify"], db, folder)
        figures["fsa_pages_bytes"] = (folder / "fsa" / "fsa-report.ja.pdf").stat().st_size
        figures["in_process"] = _in_process(db["KINKO_DATABASE_URL"], plan["incident"],
                                            folder / "d" / "trace" / "haircut",
                                            folder / "inproc")
        return figures
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def markdown(f: dict[str, Any]) -> list[str]:
    """Rows of the RESULTS.md section."""
    plan, fsa, inner = f["plan"], f["fsa"], f["in_process"]
    return [
        f"Data: the demo's 2018 setup ({f['customers']:,} customers; the refund plan covers "
        f"{f['refund_customers']:,} XEM holders), written by `kinko demo` in "
        f"{f['demo_seconds']:.0f} s. Each figure is one `kinko` process, start-up included.",
        "",
        "| step | seconds | peak RSS (MB) | baseline of the same run | ratio | target |",
        "|---|---:|---:|---|---:|---|",
        f"| `kinko refunds plan` (88.549 JPY/XEM, floor, funds check, files) | "
        f"{plan['seconds']:.2f} | {plan['peak_mb']:.0f} | `kinko balances --kind customer "
        f"--asset XEM --format csv` {f['balances']['seconds']:.2f} s | "
        f"{plan['seconds'] / f['balances']['seconds']:.2f} | < 2 s: "
        f"{'met' if plan['seconds'] < 2 else 'MISSED'} |",
        f"| `kinko report fsa --format pdf` (ja, incident, plan, trace) | "
        f"{fsa['seconds']:.2f} | {fsa['peak_mb']:.0f} | `kinko report custody --format html` "
        f"{f['custody']['seconds']:.2f} s | {fsa['seconds'] / f['custody']['seconds']:.2f} | "
        f"< 10 s: {'met' if fsa['seconds'] < 10 else 'MISSED'} |",
        "",
        f"Inside one process (imports done; the work alone): the plan "
        f"{inner['plan']:.2f} s (target < 2 s: {'met' if inner['plan'] < 2 else 'MISSED'}), "
        f"the Japanese PDF report {inner['fsa']:.2f} s. The difference to the rows above "
        f"({plan['seconds'] - inner['plan']:.2f} s for the plan, "
        f"{fsa['seconds'] - inner['fsa']:.2f} s for the report) is `kinko`'s start-up: a "
        "command imports only the modules that register it (`kinko.cli.COMMANDS`).",
        "",
        f"The report checks the books before it says anything of them: the journal's hash "
        f"chain and every balance recomputed from the postings, as `kinko ledger verify` "
        f"does (that command alone: {f['verify']['seconds']:.2f} s, peak "
        f"{f['verify']['peak_mb']:.0f} MB, here). A report from a journal that does not "
        "verify is refused, naming the first problem.",
    ]


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 260_000
    print("\n".join(markdown(run(size))))
