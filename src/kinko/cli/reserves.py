"""``kinko reserves snapshot`` and ``kinko reserves verify``: proof of liabilities.

A snapshot in kinko's format is indexed as an artifact of kind ``reserves`` (the dashboard's
reserves page shows the latest one and looks proofs up in its folder); OKX v1 folders are
not indexed: the dashboard reads kinko's format only.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from kinko.cli.app import app
from kinko.cli.progress import progress
from kinko.cli.runtime import parse_time, runtime, speech
from kinko.domain.messages import msg, os_refusal
from kinko.domain.money import format_units
from kinko.domain.proof_formats import refuse_foreign
from kinko.domain.reserves import Count, verify_proof
from kinko.errors import BadInput, ConfigError
from kinko.i18n import Localizer
from kinko.ports import SystemClock
from kinko.services import reserves as svc
from kinko.services.artifacts import Artifacts
from kinko.verify_proof import MAX_BYTES, Header, Verified, amount, shown

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
                              "at, bound into the root (default: the node's head when the "
                              "snapshot is now)."),
    customer_count: str = typer.Option("none", "--customer-count", help="What the root "
                                       "commits to of the number of customers: none, exact, "
                                       "or range:STEP (the count's bucket of STEP values)."),
) -> None:
    """Build the Merkle sum tree of customer balances and write every customer's proof."""
    rt = runtime(ctx)
    seq = int(at) if at is not None and at.strip().isdigit() else None
    when = parse_time(at) if at is not None and seq is None else None
    if not 0 <= min_height <= 40:
        raise BadInput("--min-height must be between 0 and 40",
                       says=msg("error.reserves.min_height", least=0, most=40))
    if fmt not in ("kinko", "okx-v1"):
        raise BadInput(f"--format must be kinko or okx-v1, not {fmt!r}",
                       says=msg("error.reserves.format", format=repr(fmt[:80])))
    count = _count(customer_count)
    say = rt.say
    started = time.perf_counter()
    chain = rt.chain()
    snap = svc.snapshot(rt.ledger(), as_of_seq=seq, as_of_time=when, min_height=min_height,
                        chain=chain, block=block, count=count)
    tree = snap.tree
    sid = tree.snapshot_id.hex()
    if fmt == "okx-v1":
        root = svc.publish_okx(snap, out, skip_other_assets=skip_other_assets)
        print(say("cli.reserves.okx", id=sid, customers=str(snap.customers),
                  seconds=f"{time.perf_counter() - started:.2f}"))
        print(say("cli.wrote", path=f"{root}, {out / 'proofs'}/"))
        return
    artifacts = Artifacts(rt.store(), SystemClock())
    svc.refuse_reused_id(artifacts, sid)
    with progress(say("cli.progress.proofs")) as advance:
        svc.publish(snap, out, layout=layout, progress=advance)
    artifacts.record(
        "reserves", msg("artifact.reserves", snapshot=sid), out, by="kinko reserves snapshot",
        detail={"snapshot_id": sid, "root_hash": tree.root.hex(), "customers": snap.customers,
                "layout": layout})
    print(say("cli.reserves.snapshot", id=sid, customers=str(snap.customers),
              height=str(tree.height), root=tree.root.hex(),
              seconds=f"{time.perf_counter() - started:.2f}"))
    for spec, total in zip(tree.header.assets, tree.totals, strict=True):
        print(f"  {spec.symbol} {format_units(total, rt.assets[spec.symbol])}")
    print("\n".join(described(tree.header, say)))
    if not tree.header.reserves_at:
        print(say("cli.reserves.no_block"))
    print(say("cli.wrote", path=f"{out / 'root.json'}, {out / 'proofs'}/, "
                                f"{out / 'verify_proof.py'}"))


def _count(text: str) -> Count:
    if text in ("none", "exact"):
        return text
    step = text.removeprefix("range:")
    if text.startswith("range:") and step.isdigit() and int(step) >= 1:
        return int(step)
    raise BadInput(f"--customer-count must be none, exact or range:STEP (STEP >= 1), "
                   f"not {text!r}", says=msg("error.reserves.customer_count",
                                             text=repr(text[:80])))


@reserves_app.command("verify")
def verify(
    proof: Path = typer.Argument(..., help="A proof file."),
    root: str = typer.Option(None, "--root", help="The published root: the snapshot's "
                             "root.json, or its root hash (64 hex digits)."),
    customer: str = typer.Option(None, "--customer", help="The customer the proof must be "
                                 "for, exactly (kinko format)."),
    fmt: str = typer.Option("kinko", "--format", help="Proof format: kinko or okx-v1."),
) -> None:
    """Check one proof against the published root and print what it counts; exit 1 (one
    FAIL line) when it does not hold."""
    if fmt not in ("kinko", "okx-v1"):
        raise BadInput(f"--format must be kinko or okx-v1, not {fmt!r}",
                       says=msg("error.reserves.format", format=repr(fmt[:80])))
    if root is None:
        # another exchange's proof is named as such before anything else is asked for
        refuse_foreign(svc.read_json(proof, "proof"), str(proof), fmt)
        raise BadInput("--root is required: a proof holds only against the root the exchange "
                       "published (its root.json or root hash)",
                       says=msg("error.reserves.root_required"))
    try:
        lines = _verify_kinko(proof, root, customer) if fmt == "kinko" \
            else _verify_okx(proof, root)
    except ConfigError:
        raise
    except BadInput as exc:
        say = speech()  # in English the error's own words, else its catalog message
        reason = exc.message if say.lang == "en" else say.text(exc.said())
        print(say("cli.reserves.fail", reason=" ".join(reason.splitlines())))
        raise typer.Exit(1) from None
    print("\n".join(lines))


def _root_hash(text: str) -> str | None:
    """``--root`` as a root hash (64 hex digits in either case, ``0x`` or not), in lower
    case; None when it is not one (a file's path), or names a file that exists."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) != 64 or not all(c in "0123456789abcdefABCDEF" for c in digits) \
            or Path(text).exists():
        return None
    return digits.lower()


def _verify_kinko(proof: Path, root: str, customer: str | None) -> list[str]:
    root_hash = _root_hash(root)
    if root_hash is not None:
        doc = svc.read_json(proof, "proof")
        refuse_foreign(doc, str(proof), "kinko")
        checked = verify_proof(doc, bytes.fromhex(root_hash), customer=customer)
    else:
        checked = svc.verify_files(proof, Path(root), customer)
    return counted(checked, speech())


def described(header: Header, say: Localizer) -> list[str]:
    """What a snapshot commits to besides the amounts, in the command line's language (the
    standalone verifier's ``describe`` says the same in English)."""
    where = ", ".join(say("res.point_at", block=str(p.block), chain=p.chain,
                          chain_id=p.chain_id, hash=p.block_hash.hex())
                      for p in header.reserves_at) or say("cli.reserves.no_reserves")
    if header.customers is None:
        count = say("res.count_none", n=str(1 << header.height))
    elif header.customers[0] == header.customers[1]:
        count = say("res.count_exact", n=str(header.customers[0]))
    else:
        count = say("res.count_range", low=str(header.customers[0]),
                    high=str(header.customers[1]))
    not_stated = say("cli.reserves.not_stated")
    return [say("cli.reserves.taken_at", time=header.time or not_stated),
            say("cli.reserves.ledger_entry", entry=not_stated if header.ledger_seq is None
                else str(header.ledger_seq)),
            say("cli.reserves.reserves_at", where=where),
            say("cli.reserves.customers", count=count)]


def counted(v: Verified, say: Localizer) -> list[str]:
    """What a verified proof shows (the standalone verifier's ``report``), in the command
    line's language: the customer's balances, the committed totals and the snapshot."""
    assets = v.header.assets
    lines = [say("cli.reserves.counted", customer=shown(v.customer), root=v.root_hash.hex(),
                 snapshot=v.header.snapshot_id.hex())]
    lines += [f"  {a.symbol} {amount(b, a.decimals)}"
              for a, b in zip(assets, v.balances, strict=True)]
    lines.append(say("cli.reserves.committed"))
    lines += [say("cli.reserves.total_token", asset=a.symbol, amount=amount(t, a.decimals),
                  decimals=str(a.decimals), chain=a.chain, token=a.token) if a.token
              else say("cli.reserves.total", asset=a.symbol, amount=amount(t, a.decimals),
                       decimals=str(a.decimals), chain=a.chain)
              for a, t in zip(assets, v.totals, strict=True)]
    lines.append(say("cli.reserves.the_snapshot"))
    return lines + described(v.header, say)


def _verify_okx(proof: Path, root: str) -> list[str]:
    try:
        from kinko.domain.okx import verify_okx_file
    except ImportError:
        raise ConfigError("the OKX v1 verifier (kinko.domain.okx) is missing",
                          says=msg("error.reserves.okx_missing")) from None
    root_hash = _root_hash(root)
    if root_hash is not None:
        published: dict[str, object] = {"root_hash": root_hash}
    else:
        doc = svc.read_json(Path(root), "root")
        if not isinstance(doc, dict) or doc.get("format") != "okx-v1":
            raise BadInput(f"{root}: not an OKX v1 root.json (format okx-v1)",
                           says=msg("error.reserves.not_okx_root", file=root[:200]))
        published = {k: doc[k] for k in ("root_hash", "height", "balances") if k in doc}
    refuse_foreign(svc.read_json(proof, "proof"), str(proof), "okx-v1")
    try:
        with proof.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"{proof}: cannot read the proof: {exc.strerror}", says=msg(
            "error.reserves.proof_unreadable", file=str(proof)[:200], reason=os_refusal(exc))
        ) from None
    verdict = verify_okx_file(data, proof.name, published)
    if not verdict.ok:
        raise BadInput(verdict.reason, says=msg("error.reserves.okx_invalid",
                                                file=proof.name[:200], reason=verdict.said))
    say = speech()  # in English the verifier's own words, else its catalog message
    reason = verdict.reason if say.lang == "en" else say.text(verdict.said)
    return [say("cli.reserves.okx_ok", reason=reason),
            *(f"  {symbol} {amount}" for symbol, amount in verdict.balances.items())]
