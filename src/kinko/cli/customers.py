"""``kinko customers import FILE.csv``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kinko.cli.app import app
from kinko.cli.runtime import emit, format_option, runtime
from kinko.services.customers import import_customers

customers_app = typer.Typer(help="Customers and their opening balances.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")


def progress_bar(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=False)


@customers_app.command("import")
def customers_import(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV with customer_id, asset, balance columns."),
    counter: str = typer.Option("clearing:opening", "--counter",
                                help="Account debited for the opening balances."),
    fmt: str = format_option(),
) -> None:
    """Import opening balances: all rows checked first; resumable; never duplicated."""
    rt = runtime(ctx)
    ledger = rt.ledger()
    with progress_bar("importing rows") as bar:
        task = bar.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = import_customers(ledger, file, batch_size=rt.settings.import_batch_size,
                                  counter=counter, progress=advance)
    print(f"{report.rows} rows ({report.zero_rows} zero), {report.batches_written} batches "
          f"written, {report.batches_skipped} already imported")
    emit(["asset", "imported total"],
         [[a, rt.show(a, units)] for a, units in sorted(report.totals.items())], fmt,
         right=("imported total",))
