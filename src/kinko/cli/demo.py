"""``kinko demo``: the demo exchange, its custody breach and the quorum-approved fix,
screened withdrawals, and the Coincheck theft replayed against the 2018 setup and kinko.

The command only: its acts (:mod:`kinko.cli.demo_acts`) load web3, the in-process chain,
numba and the report renderers, seconds of start-up that ``kinko --help`` and every other
command listing the commands need not pay, so they are imported when the demo runs."""

from __future__ import annotations

from pathlib import Path

import typer

from kinko.cli.app import app


@app.command("demo")
def demo(
    ctx: typer.Context,
    folder: Path = typer.Option(Path("demo"), "--dir", help="Folder for the demo's files."),
    customers: int = typer.Option(260_000, "--customers", help="How many customers."),
    seed: int = typer.Option(2018, "--seed", help="Random seed (same seed, same exchange)."),
) -> None:
    """A demo exchange on an in-process chain: 260,000 customers, Coincheck's 523 million
    XEM, an ETH custody breach fixed by a 2-of-3 approved sweep."""
    from kinko.cli.demo_acts import run

    run(ctx, folder, customers, seed)
