"""``kinko reserves sign``, ``import-signatures`` and ``report``: the reserves side."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kinko.chains.eip191 import message_signer
from kinko.cli.reserves import reserves_app
from kinko.cli.runtime import runtime
from kinko.domain.custody import Wallet
from kinko.domain.reserves_proof import SIGNED, ratio_text
from kinko.errors import BadInput, ConfigError
from kinko.services import reserves_chain as svc
from kinko.services.reserves_chain import MessageSigner, SignatureResult


def _print(results: list[SignatureResult]) -> None:
    for r in results:
        print(f"  {r.wallet:<16} {r.address}  {r.status}")


@reserves_app.command("sign")
def sign(ctx: typer.Context,
         directory: Path = typer.Argument(..., help="The snapshot directory (root.json).")) -> None:
    """Hot wallets sign the snapshot id (EIP-191); writes DIR/signatures.json."""
    rt = runtime(ctx)

    def signer_for(wallet: Wallet) -> MessageSigner:
        signer: MessageSigner = message_signer(rt.signer_for(wallet))
        return signer

    results = svc.sign_hot(directory, rt.ledger().wallets(), signer_for)
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
    results = svc.import_signatures(directory, file, rt.ledger().wallets())
    print(f"imported into {directory / 'signatures.json'}:")
    _print(results)
    if any(r.status != SIGNED for r in results):
        raise typer.Exit(1)


@reserves_app.command("report")
def report(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="The snapshot directory (root.json)."),
    block: int = typer.Option(None, "--block", help="Block of the balances (default: the "
                              "snapshot's block, else the chain's head)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Per asset: reserves on chain, liabilities, ratio, and every address's proof status."""
    if fmt not in ("table", "json"):
        raise BadInput(f"--format must be table or json, not {fmt!r}")
    rt = runtime(ctx)
    chain = rt.chain()
    if chain is None:
        raise ConfigError("no chain node configured: set KINKO_EVM_RPC_URL")
    rep = svc.build_report(directory, rt.ledger().wallets(), rt.assets, chain, block)
    if fmt == "json":
        print(json.dumps(rep.to_json(), indent=2))
        return
    print(f"snapshot {rep.snapshot_id} at block {rep.block}")
    for a in rep.assets:
        print(f"{a.symbol}: reserves {_decimal(a.reserves, a.decimals)}, liabilities "
              f"{_decimal(a.liabilities, a.decimals)}, ratio {ratio_text(a.ratio)} "
              f"(proven {_decimal(a.proven_reserves, a.decimals)})")
        for r in a.rows:
            print(f"  {r.wallet:<16} {r.tier:<5} {r.address}  "
                  f"{_decimal(r.balance, a.decimals):>24}  {r.status}")


def _decimal(units: int, decimals: int) -> str:
    whole, frac = divmod(units, 10 ** decimals)
    return str(whole) if decimals == 0 else f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".")
