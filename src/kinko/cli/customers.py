"""``kinko customers import FILE.csv`` and ``kinko customers tier``."""

from __future__ import annotations

from pathlib import Path

import typer

from kinko.cli.app import app
from kinko.cli.progress import progress
from kinko.cli.runtime import emit, format_option, runtime
from kinko.domain.messages import msg
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
    say = rt.say
    with progress(say("cli.progress.import")) as advance:
        report = import_customers(ledger, file, batch_size=rt.settings.import_batch_size,
                                  counter=counter, progress=advance)
    counts = dict(rows=str(report.rows), zero=str(report.zero_rows),
                  written=str(report.batches_written), skipped=str(report.batches_skipped))
    print(say("cli.customers.imported_tiers", tiers=str(report.tiers), **counts)
          if report.tiers else say("cli.customers.imported", **counts))
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
    rt = runtime(ctx)
    say = rt.say
    ledger = rt.ledger()
    if tier is None:
        row = customer_tier(ledger, customer)
        print(say("cli.customers.tier_set", customer=customer, tier=row["tier"],
                  at=f"{row['set_at']:%Y-%m-%d %H:%M}", by=row["set_by"])
              if row["set_by"] else
              say("cli.customers.tier_default", customer=customer, tier=row["tier"]))
        print(say("cli.customers.tiers", tiers=", ".join(declared_tiers(ledger))))
        return
    if not by:
        raise BadInput("say who records the tier: --by NAME",
                       says=msg("error.customers.tier_by"))
    row = set_tier(ledger, customer, tier, by, actor=f"cli:{by}")
    print(say("cli.customers.tier", customer=customer, tier=row["tier"]))
