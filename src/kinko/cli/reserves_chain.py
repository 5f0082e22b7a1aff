"""``kinko reserves sign``, ``import-signatures`` and ``report``: the reserves side."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kinko.cli.reserves import described, reserves_app
from kinko.cli.runtime import Runtime, runtime, word
from kinko.domain.messages import msg
from kinko.domain.reserves_proof import MISSING, SIGNED, ratio_text
from kinko.errors import BadInput, ConfigError
from kinko.i18n import Localizer
from kinko.ports import SystemClock
from kinko.services import reserves_chain as svc
from kinko.services.artifacts import Artifacts
from kinko.services.reserves import load_root, refuse_reused_id
from kinko.services.reserves_chain import SignatureResult
from kinko.verify_proof import amount


def _print(results: list[SignatureResult], say: Localizer) -> None:
    for r in results:
        print(f"  {r.wallet:<16} {r.address}  {_status(say, r.status)}")


def _status(say: Localizer, status: str) -> str:
    """A proof of control's status: in Japanese the words for signed and missing (others,
    which carry their specifics, as they are)."""
    if say.lang == "en" or status not in (SIGNED, MISSING):
        return status
    return say("cli.reserves.signed") if status == SIGNED else say("cli.reserves.missing")


@reserves_app.command("sign")
def sign(ctx: typer.Context,
         directory: Path = typer.Argument(..., help="The snapshot directory (root.json).")) -> None:
    """Hot wallets prove control: each signs the snapshot id (EIP-191); writes
    DIR/signatures.json."""
    rt = runtime(ctx)
    _refuse_reused(rt, directory)
    results = svc.sign_hot(directory, rt.ledger().wallets(), rt.custody().spender)
    print(rt.say("cli.reserves.signed_hot", path=str(directory / "signatures.json")))
    _print(results, rt.say)
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
    print(rt.say("cli.reserves.imported", path=str(directory / "signatures.json")))
    _print(results, rt.say)
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
        raise BadInput(f"--format must be table or json, not {fmt!r}",
                       says=msg("error.reserves.report_format", format=repr(fmt[:80])))
    rt = runtime(ctx)
    chain = rt.chain()
    if chain is None:
        raise ConfigError("no chain node configured: set KINKO_EVM_RPC_URL or KINKO_CHAINS",
                          says=msg("error.reserves.report_needs_node"))
    _refuse_reused(rt, directory)
    rep = svc.build_report(directory, rt.ledger().wallets(), rt.assets, chain,
                           rt.contract_check())
    if fmt == "json":
        print(json.dumps(rep.to_json(), indent=2))
        return
    say = rt.say
    print(say("cli.reserves.report_head", id=rep.snapshot_id, root=rep.root_hash))
    print("\n".join(described(rep.header, say)))
    for warning in rep.warnings:
        print(say("cli.reserves.warning", text=warning))
    for a in rep.assets:
        print(say("cli.reserves.asset", asset=a.symbol,
                  liabilities=amount(a.liabilities, a.decimals),
                  proven=amount(a.proven_reserves, a.decimals), ratio=ratio_text(a.ratio)))
        if a.note:
            print(f"  {a.note}")
        if a.unproven_reserves:
            print(say("cli.reserves.not_counted",
                      amount=f"{amount(a.unproven_reserves, a.decimals)} {a.symbol}",
                      count=str(a.unproven_addresses)))
        for r in a.rows:
            tier = word(say, "tier", r.tier) if say.lang != "en" else f"{r.tier:<5}"
            print(f"  {r.wallet:<16} {tier} {r.address}  "
                  f"{amount(r.balance, a.decimals):>24}  {_status(say, r.status)}")


def _refuse_reused(rt: Runtime, directory: Path) -> None:
    """A snapshot id recorded for another root is refused (its signatures and proofs must
    never pass for another tree)."""
    root = load_root(directory)
    refuse_reused_id(Artifacts(rt.store(), SystemClock()), root.header.snapshot_id.hex(),
                     root.root_hash.hex())
