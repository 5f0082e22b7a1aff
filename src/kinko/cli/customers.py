"""``kinko customers import FILE.csv`` and ``kinko customers tier``."""

from __future__ import annotations

from pathlib import Path

import typer

from kinko.cli.app import app
from kinko.cli.progress import progress
from kinko.cli.runtime import emit, format_option, runtime
from kinko.errors import BadInput
from kinko.services.customers import customer_tier, declared_tiers, import_customers, set_tier

customers_app = typer.Typer(help="Customers and their opening balances.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")


@customers_app.command("import")
def customers_import(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV with customer_id, asset, balance columns."),
    counter: str = typer.Option("clearing:opening", "--counter",
                                help="Account debited for the opening balances."),
    fmt: str = format_option(),
) -> None:
    """Import opening balances (and, from a tier column, tiers): all rows checked first;
    resumable; never duplicated."""
    rt = runtime(ctx)
    ledger = rt.ledger()
    with progress("importing rows") as advance:
        report = import_customers(ledger, file, batch_size=rt.settings.import_batch_size,
                                  counter=counter, progress=advance)
    print(f"{report.rows} rows ({report.zero_rows} zero), {report.batches_written} batches "
          f"written, {report.batches_skipped} already imported"
          + (f", {report.tiers} customers' tiers" if report.tiers else ""))
    emit(["asset", "imported total"],
         [[a, rt.show(a, units)] for a, units in sorted(report.totals.items())], fmt,
         right=("imported total",))


@customers_app.command("tier")
def customers_tier(
    ctx: typer.Context,
    customer: str = typer.Argument(..., help="The customer id."),
    tier: str = typer.Argument(None, help="The tier to record (one of the policy's); "
                               "without it, the recorded tier is shown."),
    by: str = typer.Option(None, "--by", help="Who records it (audited)."),
) -> None:
    """Show or record a customer's tier (KYC level), which tiered screening rules use."""
    ledger = runtime(ctx).ledger()
    if tier is None:
        row = customer_tier(ledger, customer)
        print(f"{customer}: {row['tier']}" + (f" (set {row['set_at']:%Y-%m-%d %H:%M} UTC by "
                                               f"{row['set_by']})" if row["set_by"] else
                                               " (none recorded)"))
        print(f"tiers: {', '.join(declared_tiers(ledger))}")
        return
    if not by:
        raise BadInput("say who records the tier: --by NAME")
    row = set_tier(ledger, customer, tier, by, actor=f"cli:{by}")
    print(f"{customer}: {row['tier']}")
