"""``kinko reserves snapshot`` and ``kinko reserves verify``: proof of liabilities.

A snapshot in kinko's format is indexed as an artifact of kind ``reserves`` (the dashboard's
reserves page shows the latest one and looks proofs up in its folder); OKX v1 folders are
not indexed: the dashboard reads kinko's format only.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer

from kinko.cli.app import app
from kinko.cli.runtime import parse_time, runtime
from kinko.domain.money import format_units
from kinko.domain.proof_formats import refuse_foreign
from kinko.errors import BadInput, ConfigError
from kinko.ports import SystemClock
from kinko.services import reserves as svc
from kinko.services.artifacts import Artifacts

reserves_app = typer.Typer(help="Proof of reserves: publish the liabilities tree, check proofs.",
                           no_args_is_help=True)
app.add_typer(reserves_app, name="reserves")


@reserves_app.command("snapshot")
def snapshot(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Directory for root.json, proofs/, verifier."),
    at: str = typer.Option(None, "--at", help="Entry number N, or a time (ISO 8601 with zone)."),
    min_height: int = typer.Option(20, "--min-height",
                                   help="Pad to at least 2**H leaves (hides the count)."),
    fmt: str = typer.Option("kinko", "--format",
                            help="kinko (default) or okx-v1 (BTC/ETH/USDT only; binds only sums)."),
    skip_other_assets: bool = typer.Option(False, "--skip-other-assets",
                                           help="okx-v1: leave out assets OKX v1 cannot hold."),
    layout: str = typer.Option("files", "--layout",
                               help="kinko: files (one per customer) or jsonl (one per line)."),
    block: int = typer.Option(None, "--block", help="The chain height the reserves are read "
                              "at (default: the node's head when the snapshot is now)."),
) -> None:
    """Build the Merkle sum tree of customer balances and write every customer's proof."""
    rt = runtime(ctx)
    seq = int(at) if at is not None and at.strip().isdigit() else None
    when = parse_time(at) if at is not None and seq is None else None
    if not 0 <= min_height <= 40:
        raise BadInput("--min-height must be between 0 and 40")
    if fmt not in ("kinko", "okx-v1"):
        raise BadInput(f"--format must be kinko or okx-v1, not {fmt!r}")
    started = time.perf_counter()
    snap = svc.snapshot(rt.ledger(), as_of_seq=seq, as_of_time=when, min_height=min_height)
    chain = rt.chain()
    if block is None and chain is not None and at is None:
        block = chain.head()  # liabilities now, reserves at the head: one moment
    snap = dataclasses.replace(snap, block=block)
    tree = snap.tree
    if fmt == "okx-v1":
        root = svc.publish_okx(snap, out, skip_other_assets=skip_other_assets)
        print(f"OKX v1 snapshot {tree.snapshot_id.hex()}: {snap.customers} customers "
              f"({time.perf_counter() - started:.2f} s); note: OKX v1 binds only each parent's "
              "sum, kinko's format is the sound one")
        print(f"wrote {root}, {out / 'proofs'}/")
        return
    svc.publish(snap, out, layout=layout)
    Artifacts(rt.store(), SystemClock()).record(
        "reserves", f"reserves snapshot {tree.snapshot_id.hex()}", out,
        by="kinko reserves snapshot",
        detail={"snapshot_id": tree.snapshot_id.hex(), "customers": snap.customers,
                "layout": layout})
    print(f"snapshot {tree.snapshot_id.hex()}: {snap.customers} customers, height {tree.height}, "
          f"root {tree.root.hex()} ({time.perf_counter() - started:.2f} s)")
    for (symbol, _d), total in zip(tree.assets, tree.totals, strict=True):
        print(f"  {symbol} {format_units(total, rt.assets[symbol])}")
    print(f"wrote {out / 'root.json'}, {out / 'proofs'}/, {out / 'verify_proof.py'}")


@reserves_app.command("verify")
def verify(
    proof: Path = typer.Argument(..., help="A proof file."),
    root: Path = typer.Option(None, "--root", help="The snapshot's root.json (kinko format)."),
    fmt: str = typer.Option("kinko", "--format", help="Proof format: kinko or okx-v1."),
) -> None:
    """Check one proof and print the balances it counts; exit 1 when it does not hold."""
    if fmt == "okx-v1":
        try:
            from kinko.domain.okx import verify_okx_file
        except ImportError:
            raise ConfigError("the OKX v1 verifier (kinko.domain.okx) is missing") from None
        # checks it is JSON and not another exchange's format; the verifier re-reads text
        refuse_foreign(svc.load_json(proof, "proof"), str(proof), "okx-v1")
        ok, reason, balances = verify_okx_file(proof.read_text(encoding="utf-8"), proof.name)
        if not ok:
            print(f"FAIL: {reason}")
            raise typer.Exit(1)
        print(f"OK: {reason}")
        for symbol, amount in balances.items():
            print(f"  {symbol} {amount}")
        return
    if fmt != "kinko":
        raise BadInput(f"--format must be kinko or okx-v1, not {fmt!r}")
    if root is None:
        raise BadInput("--root ROOT.json is required for kinko proofs")
    try:
        counted = svc.verify_files(proof, root)
    except BadInput as exc:
        print(f"FAIL: {exc.message}")
        raise typer.Exit(1) from None
    data = svc.load_json(root, "root")
    decimals = {a["symbol"]: a["decimals"] for a in data["assets"]}
    print(f"OK: the proof leads to root {data['root_hash']} (snapshot {data['snapshot_id']})")
    for symbol, units in counted.items():
        print(f"  {symbol} {_decimal(units, decimals[symbol])}")


def _decimal(units: int, decimals: int) -> str:
    whole, frac = divmod(units, 10 ** decimals)
    return str(whole) if decimals == 0 else f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".")
