"""``kinko demo``: set up the demo exchange and show its liabilities and holdings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from kinko.cli.app import app
from kinko.cli.customers import progress_bar
from kinko.cli.runtime import emit, runtime
from kinko.errors import BadInput
from kinko.services.demo import run_demo
from kinko.store import upgrade


@app.command("demo")
def demo(
    ctx: typer.Context,
    folder: Path = typer.Option(Path("demo"), "--dir", help="Folder for the demo's files."),
    customers: int = typer.Option(260_000, "--customers", help="How many customers."),
    seed: int = typer.Option(2018, "--seed", help="Random seed (same seed, same exchange)."),
) -> None:
    """A demo exchange: 260,000 customers, Coincheck's 523 million XEM in one hot wallet."""
    rt = runtime(ctx)
    if customers < 1:
        raise BadInput("--customers must be at least 1")
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "kinko-demo.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    if rt.settings.sources.get("database_url", "default") == "default":
        rt.settings = replace(rt.settings, database_url=f"sqlite:///{db}",
                              sqlite_synchronous="NORMAL")
    upgrade(rt.store())
    ledger = rt.ledger()
    with progress_bar("importing customers") as bar:
        task = bar.add_task("import", total=None)
        result = run_demo(ledger, folder, customers=customers, seed=seed,
                          batch_size=rt.settings.import_batch_size,
                          progress=lambda d, t: bar.update(task, completed=d, total=t))
    rep = result.import_report
    print(f"\nDemo exchange: {result.customers:,} customers, {rep.rows:,} balances imported "
          f"from {result.csv_path} in {result.import_seconds:.2f} s "
          f"({rep.batches_written} journal entries)\n")
    rows = []
    for p in result.positions:
        hot_share = (f"{100 * p.holdings['hot'] / p.total_holdings:.1f}%"
                     if p.total_holdings and p.asset != "JPY" else "-")
        rows.append([p.asset, f"{p.customers:,}", rt.show(p.asset, p.liabilities),
                     rt.show(p.asset, p.holdings["hot"]), rt.show(p.asset, p.holdings["cold"]),
                     rt.show(p.asset, p.holdings.get("bank", 0)), rt.show(p.asset, p.own_funds),
                     rt.show(p.asset, p.coverage), hot_share])
    emit(["asset", "customers", "owed to customers", "hot", "cold", "bank", "own funds",
          "coverage", "hot share"], rows, "table",
         title="Liabilities and holdings per asset (exact, in whole units)",
         right=("customers", "owed to customers", "hot", "cold", "bank", "own funds",
                "coverage", "hot share"))
    verify = ledger.verify()
    print(f"ledger verify: {'OK' if verify.ok else 'FAILED'} ({verify.entries} entries, "
          f"head {verify.head[1][:16]}…)")
    print("As at Coincheck in January 2018, every customer XEM sits in one hot wallet: "
          "the custody policy (next) flags it.")
    print(f"Explore: KINKO_DATABASE_URL=sqlite:///{db} kinko balances --customer C0000001")
