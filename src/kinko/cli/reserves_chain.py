"""``kinko reserves sign``, ``import-signatures`` and ``report``: the reserves side."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kinko.cli.reserves import reserves_app
from kinko.cli.runtime import Runtime, runtime
from kinko.domain.reserves_proof import SIGNED, ratio_text
from kinko.errors import BadInput, ConfigError
from kinko.ports import SystemClock
from kinko.services import reserves_chain as svc
from kinko.services.artifacts import Artifacts
from kinko.services.reserves import load_root, refuse_reused_id
from kinko.services.reserves_chain import SignatureResult
from kinko.verify_proof import amount, describe


def _print(results: list[SignatureResult]) -> None:
    for r in results:
        print(f"  {r.wallet:<16} {r.address}  {r.status}")


@reserves_app.command("sign")
def sign(ctx: typer.Context,
         directory: Path = typer.Argument(..., help="The snapshot directory (root.json).")) -> None:
    """Hot wallets prove control: each signs the snapshot id (EIP-191); writes
    DIR/signatures.json."""
    rt = runtime(ctx)
    _refuse_reused(rt, directory)
    results = svc.sign_hot(directory, rt.ledger().wallets(), rt.custody().spender)
    print(f"signed by hot wallets, recorded in {directory / 'signatures.json'}:")
    _print(results)
    if any(r.status != SIGNED for r in results):
        raise typer.Exit(1)


@reserves_app.command("import-signatures")
def import_signatures(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="The snapshot directory (root.json)."),
    file: Path = typer.Argument(..., help="Signatures from the offline signers (JSON)."),
) -> None:
    """Add offline (cold/warm) signatures, each verified; exit 1 if any is invalid."""
    rt = runtime(ctx)
    _refuse_reused(rt, directory)
    results = svc.import_signatures(directory, file, rt.ledger().wallets())
    print(f"imported into {directory / 'signatures.json'}:")
    _print(results)
    if any(r.status != SIGNED for r in results):
        raise typer.Exit(1)


@reserves_app.command("report")
def report(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="The snapshot directory (root.json)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Per asset: liabilities, reserves at the snapshot's block proven by signature (the
    ratio counts only these), the reserves not proven, and every address's status."""
    if fmt not in ("table", "json"):
        raise BadInput(f"--format must be table or json, not {fmt!r}")
    rt = runtime(ctx)
    chain = rt.chain()
    if chain is None:
        raise ConfigError("no chain node configured: set KINKO_EVM_RPC_URL")
    _refuse_reused(rt, directory)
    rep = svc.build_report(directory, rt.ledger().wallets(), rt.assets, chain,
                           rt.contract_check())
    if fmt == "json":
        print(json.dumps(rep.to_json(), indent=2))
        return
    print(f"snapshot {rep.snapshot_id}, root {rep.root_hash}")
    print("\n".join(describe(rep.header)))
    for warning in rep.warnings:
        print(f"WARNING: {warning}")
    for a in rep.assets:
        print(f"{a.symbol}: liabilities {amount(a.liabilities, a.decimals)}, proven reserves "
              f"{amount(a.proven_reserves, a.decimals)}, ratio {ratio_text(a.ratio)}")
        if a.note:
            print(f"  {a.note}")
        if a.unproven_reserves:
            print(f"  NOT COUNTED: {amount(a.unproven_reserves, a.decimals)} {a.symbol} at "
                  f"{a.unproven_addresses} address(es) without a valid proof of control")
        for r in a.rows:
            print(f"  {r.wallet:<16} {r.tier:<5} {r.address}  "
                  f"{amount(r.balance, a.decimals):>24}  {r.status}")


def _refuse_reused(rt: Runtime, directory: Path) -> None:
    """A snapshot id recorded for another root is refused (its signatures and proofs must
    never pass for another tree)."""
    root = load_root(directory)
    refuse_reused_id(Artifacts(rt.store(), SystemClock()), root.header.snapshot_id.hex(),
                     root.root_hash.hex())
