"""``kinko policy``, ``kinko approvers``, ``kinko proposals``, ``kinko reconcile``,
``kinko check`` and ``kinko report custody``."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kinko.cli.app import app
from kinko.cli.runtime import Runtime, emit, format_option, parse_time, runtime, speech, word
from kinko.domain.addresses import TOKENS
from kinko.domain.approvals import Proposal, public_key_hex, sign_proposal
from kinko.domain.messages import msg
from kinko.domain.money import format_units
from kinko.domain.policy_lock import changes_message, describe, veto_bytes
from kinko.domain.states import PROPOSAL_STATES
from kinko.errors import BadInput, ConfigError
from kinko.i18n import ENGLISH
from kinko.render.custody import render_custody
from kinko.safeload import loads_json, read_bounded, read_text
from kinko.services.custody import Custody, ProposalView, custody_report, unknown_proposal
from kinko.services.deposits import Deposits
from kinko.services.heartbeat import watch_findings
from kinko.services.withdrawals import Withdrawals
from kinko.store.custody_sql import parse_proposal

APPROVER_KEY_ENV = "KINKO_APPROVER_KEY_PASSWORD"

policy_app = typer.Typer(help="The custody policy: limits, approvers, quorum.",
                         no_args_is_help=True)
approvers_app = typer.Typer(help="Approvers' Ed25519 keys (kept by the approvers, not kinko).",
                            no_args_is_help=True)
proposals_app = typer.Typer(help="Sweeps, refills and policy changes awaiting m-of-n approval.",
                            no_args_is_help=True)
report_app = typer.Typer(help="Reports for compliance and the regulator.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(approvers_app, name="approvers")
app.add_typer(proposals_app, name="proposals")
app.add_typer(report_app, name="report")


@policy_app.command("load")
def policy_load(
    ctx: typer.Context,
    file: Path = typer.Argument(None, help="Policy TOML (default: the policy_file setting)."),
    by: str = typer.Option(..., "--by", help="Your name: the proposer of the change."),
) -> None:
    """Load a policy: the first version at once, later ones as a proposal to the quorum."""
    rt = runtime(ctx)
    path = file or Path(rt.settings.policy_file)
    policy, view = rt.custody().load_policy(path, by, actor=f"cli:{by.strip()}")
    say = rt.say
    if view is None:
        print(say("cli.policy.active", version=str(policy.version), quorum=str(policy.quorum),
                  approvers=str(len(policy.approvers)), digest=policy.digest[:16]))
    else:
        print(say("cli.policy.proposed", version=str(policy.version), id=view.proposal.id,
                  quorum=str(view.quorum), hours=str(rt.settings.policy_time_lock_hours)))


@policy_app.command("show")
def policy_show(ctx: typer.Context,
                canonical: bool = typer.Option(False, "--canonical", help="The body exactly "
                                               "as it is hashed and approved (minor units).")
                ) -> None:
    """Show the policy version in force and the versions waiting for their time lock (with
    when each takes effect and what it loosens), as JSON; amounts in whole units."""
    rt = runtime(ctx)
    found = rt.custody().policy_standings()
    effective = next((s for s in found if s.state == "effective"), None)
    if effective is None or effective.facts.policy is None:
        raise ConfigError("no custody policy is loaded: run `kinko policy load FILE --by NAME`",
                          says=msg("error.policy.none_loaded"))
    policy = effective.facts.policy
    print(json.dumps({
        "effective": {**effective.as_dict(),
                      "body": policy.canonical() if canonical else policy.readable(rt.assets)},
        "pending": [s.as_dict() for s in found if s.state == "pending"],
    }, indent=2, ensure_ascii=False))


@policy_app.command("list")
def policy_list(ctx: typer.Context, fmt: str = format_option()) -> None:
    """Every policy version, newest first: in force, pending (waiting for its time lock:
    when it takes effect and what it loosens), vetoed or superseded."""
    rows = []
    rt = runtime(ctx)
    cells = rt.cells(fmt)
    for s in rt.custody().policy_standings():
        d = s.as_dict()
        loosened = s.diff.loosenings if s.diff else ()
        why = ((describe(loosened) if cells.lang == "en" else cells.text(
            changes_message(loosened))) if loosened else "-")
        vetoed = ", ".join(v.approver for v in s.vetoed_by)
        rows.append([s.facts.version, word(cells, "pol.state", s.state), d["approved_at"],
                     d["effective_at"] or cells("cli.policy.never"),
                     "-" if s.facts.base is None else s.facts.base,
                     why if s.state != "vetoed" else cells("cli.policy.vetoed_by", by=vetoed,
                                                           why=why)])
    emit(["version", "state", "approved", "effective", "under", "loosens"], rows, fmt)


@policy_app.command("veto")
def policy_veto(
    ctx: typer.Context,
    version: int = typer.Argument(..., help="The policy version waiting for its time lock."),
    approver: str = typer.Option(..., "--approver", help="Your name, as in the policy it was "
                                 "proposed under."),
    key: Path = typer.Option(None, "--key", help="Sign here with this private key file."),
    signature: str = typer.Option(None, "--signature",
                                  help="Or: a signature made elsewhere (`kinko approvers "
                                  "sign-veto`)."),
    reason: str = typer.Option("", "--reason", help="Why (kept with the veto)."),
) -> None:
    """Veto a policy version that loosens the policy while it waits for its time lock: one
    approver is enough, and the version never takes effect."""
    custody = runtime(ctx).custody()
    if (key is None) == (signature is None):
        raise BadInput("give either --key (sign here) or --signature (signed elsewhere)",
                       says=msg("error.approval.key_or_signature"))
    if signature is None:
        signature = _sign_veto(custody, version, key)
    standing = custody.veto(version, approver, signature, reason,
                            actor=f"cli:{approver.strip()}")
    say = runtime(ctx).say
    print(say("cli.policy.vetoed", version=str(version),
              state=word(say, "pol.state", standing.state), by=approver))


def _sign_veto(custody: Custody, version: int, key: Path | None) -> str:
    found = next((s for s in custody.policy_standings() if s.facts.version == version), None)
    if found is None or found.facts.policy is None:
        raise BadInput(f"no readable policy version {version} is loaded", version=version,
                       says=msg("error.policy.no_readable_version", version=str(version)))
    assert key is not None
    policy = found.facts.policy
    return _load_key(key).sign(veto_bytes(policy.version, policy.digest)).hex()


def _key_password() -> bytes:
    from kinko.chains.passwords import check_password

    return check_password(os.environ.get(APPROVER_KEY_ENV), APPROVER_KEY_ENV).encode()


def _load_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = read_bounded(path, 64 * 1024, error=ConfigError)  # a PEM key: a few lines
        key = serialization.load_pem_private_key(data, password=_key_password())
    except (ValueError, TypeError):
        raise ConfigError(f"{path}: wrong password or not an approver key", says=msg(
            "error.approver.key_unreadable", file=str(path)[:200])) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key",
                          says=msg("error.approver.not_ed25519", file=str(path)[:200]))
    return key


@approvers_app.command("keygen")
def approvers_keygen(
    out: Path = typer.Option(..., "--out", help="Private key file to create (PEM, encrypted)."),
) -> None:
    """Create an approver key pair; prints the public key for the policy file."""
    if out.exists():
        raise ConfigError(f"{out} already exists; refusing to overwrite a key",
                          says=msg("error.approver.key_exists", file=str(out)[:200]))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(_key_password()))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    print(public_key_hex(key))


@approvers_app.command("sign")
def approvers_sign(
    ctx: typer.Context,
    proposal_id: str = typer.Argument(None, help="Proposal id (read from the database)."),
    key: Path = typer.Option(..., "--key", help="Your private key file."),
    canonical: Path = typer.Option(None, "--canonical",
                                   help="Sign this canonical proposal file instead (offline)."),
) -> None:
    """Sign a proposal; prints the signature to give to `kinko proposals approve`."""
    if canonical is not None:
        proposal = _proposal_file(canonical)
    else:
        view = runtime(ctx).custody().proposal(proposal_id or "")
        if view is None:
            raise unknown_proposal(proposal_id or "", BadInput)
        proposal = view.proposal
    print(sign_proposal(proposal, _load_key(key)))


@approvers_app.command("sign-veto")
def approvers_sign_veto(
    ctx: typer.Context,
    version: int = typer.Argument(..., help="The policy version to veto."),
    key: Path = typer.Option(..., "--key", help="Your private key file."),
) -> None:
    """Sign a veto of a pending policy version; prints the signature to give to `kinko
    policy veto --signature` (or the dashboard)."""
    print(_sign_veto(runtime(ctx).custody(), version, key))


def _proposal_file(path: Path) -> Proposal:
    """A proposal's canonical text carried in a file (``proposals show ID --canonical``)."""
    text = read_text(path, error=BadInput)
    if not isinstance(loads_json(text, str(path)), dict):  # bounded before it is parsed
        raise BadInput(f"{path}: not a canonical proposal (a JSON object)",
                       says=msg("error.proposal.file_not_object", file=str(path)[:200]))
    try:
        return parse_proposal(text.strip())
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadInput(f"{path}: not a canonical proposal ({type(exc).__name__}: {exc})",
                       says=msg("error.proposal.file_not_canonical", file=str(path)[:200],
                                reason=f"{type(exc).__name__}: {exc}"[:200])) from None


def signature_for(custody: Custody, proposal_id: str, key: Path | None,
                  signature: str | None) -> str:
    """A signature given, or made here with the approver's key file."""
    if (key is None) == (signature is None):
        raise BadInput("give either --key (sign here) or --signature (signed elsewhere)",
                       says=msg("error.approval.key_or_signature"))
    if signature is not None:
        return signature
    view = custody.proposal(proposal_id)
    if view is None:
        raise unknown_proposal(proposal_id, BadInput)
    return sign_proposal(view.proposal, _load_key(key))  # type: ignore[arg-type]


def _amount(rt: Runtime, payload: dict[str, Any]) -> str:
    """A proposal's amount in whole units of its asset (the payload keeps minor units)."""
    asset, units = payload.get("asset"), payload.get("amount")
    if not isinstance(asset, str) or asset not in rt.assets or units is None:
        return "-" if units is None else str(units)
    return format_units(int(units), rt.assets[asset], group=True)


def _show(rt: Runtime, views: list[ProposalView], fmt: str) -> None:
    cells = rt.cells(fmt)
    emit(["id", "kind", "asset", "amount", "state", "approvals", "expires", "tx", "why"],
         [[v.proposal.id, word(cells, "prop.kind", v.proposal.kind),
           v.proposal.payload.get("asset", "-"), _amount(rt, v.proposal.payload),
           word(cells, "prop.state", v.state),
           f"{len(v.approvals)}/{v.quorum} " + ",".join(a.approver for a in v.approvals),
           v.lapses_at.isoformat(), v.tx_hash or "", v.detail] for v in views], fmt)


@proposals_app.command("create")
def proposals_create(ctx: typer.Context,
                     by: str = typer.Option(..., "--by", help="Your name (the proposer)."),
                     fmt: str = format_option()) -> None:
    """Propose the sweeps and refills that bring every asset within the policy."""
    views = runtime(ctx).custody().propose_rebalance(by)
    if not views:
        print(runtime(ctx).say("cli.proposals.nothing"))
        return
    _show(runtime(ctx), views, fmt)


@proposals_app.command("list")
def proposals_list(ctx: typer.Context, state: str = typer.Option(
        None, "--state", help=", ".join(PROPOSAL_STATES) + "."),
                   fmt: str = format_option()) -> None:
    """List proposals with their approvals."""
    _show(runtime(ctx), runtime(ctx).custody().proposals(state), fmt)


@proposals_app.command("show")
def proposals_show(ctx: typer.Context, proposal_id: str,
                   canonical: bool = typer.Option(False, "--canonical",
                                                  help="Print exactly the bytes approvers sign.")
                   ) -> None:
    """Show one proposal (`--canonical` for offline signing)."""
    view = runtime(ctx).custody().proposal(proposal_id)
    if view is None:
        raise unknown_proposal(proposal_id, BadInput)
    if canonical:
        sys.stdout.write(view.proposal.canonical() + "\n")
        return
    _show(runtime(ctx), [view], "table")


@proposals_app.command("approve")
def proposals_approve(
    ctx: typer.Context,
    proposal_id: str,
    approver: str = typer.Option(..., "--approver", help="Approver name as in the policy."),
    key: Path = typer.Option(None, "--key", help="Sign here with this private key file."),
    signature: str = typer.Option(None, "--signature", help="Or: a signature made offline."),
) -> None:
    """Record one approval (a signature over the proposal's canonical bytes), through the use
    case that owns the proposal's kind (a withdrawal moves on, a breaker resets at quorum)."""
    custody = runtime(ctx).custody()
    view = Withdrawals(custody).approve_proposal(
        proposal_id, approver, signature_for(custody, proposal_id, key, signature),
        actor=f"cli:{approver}")
    say = runtime(ctx).say
    print(say("cli.proposals.approved", id=proposal_id, approvals=str(len(view.approvals)),
              quorum=str(view.quorum), state=word(say, "prop.state", view.state)))
    if view.proposal.kind == "policy" and view.state == "executed":
        version = int(view.proposal.payload["version"])
        found = next(s for s in custody.policy_standings() if s.facts.version == version)
        when = found.effective_at.isoformat() if found.effective_at else say("cli.policy.never")
        print(say("cli.policy.standing", version=str(version),
                  state=word(say, "pol.state", found.state), when=when))


@proposals_app.command("execute")
def proposals_execute(ctx: typer.Context, proposal_id: str) -> None:
    """Send an approved sweep, or a sweep or refill from a Safe once enough of its owners
    signed (`proposals safe-sign`); a refill from a cold wallet of one key becomes a
    signing request for its offline signer."""
    rt = runtime(ctx)
    view = rt.custody().execute(proposal_id)
    if view.state == "requested":
        print(rt.say("cli.proposals.requested", id=proposal_id))
    else:
        print(rt.say("cli.proposals.sent", id=proposal_id, tx=str(view.tx_hash),
                     confirmations=str(rt.settings.confirmations)))


OWNER_KEY_ENV = "KINKO_OWNER_KEY_PASSWORD"


@proposals_app.command("safe-tx")
def proposals_safe_tx(ctx: typer.Context, proposal_id: str) -> None:
    """Print the transaction a multisig wallet's owners sign for an approved sweep or refill
    (JSON; `digest` is the SafeTx hash: sign it, or its 32 bytes as a message with a
    hardware wallet)."""
    print(json.dumps(runtime(ctx).custody().owners_transaction(proposal_id), indent=2))


@proposals_app.command("safe-sign")
def proposals_safe_sign(
    ctx: typer.Context,
    proposal_id: str,
    owner: str = typer.Option(..., "--owner", help="Your owner address."),
    key: Path = typer.Option(None, "--key", help="Sign here with this Ethereum keystore file "
                             f"(password from {OWNER_KEY_ENV})."),
    signature: str = typer.Option(None, "--signature", help="Or: the signature made "
                                  "elsewhere (0x-hex, 65 bytes; a hardware wallet's too)."),
) -> None:
    """Add an owner's signature of the SafeTx of an approved sweep or refill from a
    multisig wallet; `proposals execute` sends it once enough owners have signed."""
    from kinko.chains.keystore import KeystoreSigner

    if (key is None) == (signature is None):
        raise BadInput("give either --key (sign here) or --signature (signed elsewhere)",
                       says=msg("error.approval.key_or_signature"))
    custody = runtime(ctx).custody()
    if key is not None:
        if not os.environ.get(OWNER_KEY_ENV):
            raise ConfigError(f"set {OWNER_KEY_ENV} to open your owner key file {key}",
                              says=msg("error.owner.key_password", file=str(key)[:200]))
        digest = str(custody.owners_transaction(proposal_id)["digest"])
        signed = KeystoreSigner.open(key, os.environ.get(OWNER_KEY_ENV)) \
            .sign_digest(bytes.fromhex(digest[2:]))
    else:
        text = signature.strip().removeprefix("0x")
        try:
            signed = bytes.fromhex(text)
        except ValueError:
            raise BadInput("--signature: not hex",
                           says=msg("error.owner.signature_not_hex")) from None
    count = custody.add_owner_signature(proposal_id, owner, signed)
    print(runtime(ctx).say("cli.proposals.owner_signatures", id=proposal_id, count=str(count)))


@proposals_app.command("settle")
def proposals_settle(ctx: typer.Context, proposal_id: str,
                     tx: str = typer.Option(None, "--tx", help="For a refill: the hash of the "
                                            "transaction the offline signers sent.")) -> None:
    """Book a sent sweep, or a refill seen on chain, once it is confirmed."""
    entry = runtime(ctx).custody().settle(proposal_id, tx)
    say = runtime(ctx).say
    print(say("cli.proposals.booked", id=proposal_id, seq=str(entry.seq)) if entry else
          say("cli.proposals.not_booked", id=proposal_id))


def _findings(findings: list, fmt: str) -> None:  # type: ignore[type-arg]
    cells = speech() if fmt == "table" else ENGLISH
    emit(["severity", "code", "asset", "finding", "addresses"],
         [[word(cells, "cu.sev", f.severity), f.code, f.asset or "-", f.message,
           " ".join(f.addresses)] for f in findings], fmt)


@app.command("reconcile")
def reconcile(ctx: typer.Context,
              block: int = typer.Option(None, "--block", help="Chain height (default: head)."),
              fmt: str = format_option()) -> None:
    """Each wallet's ledger balance against its addresses on chain."""
    findings = runtime(ctx).custody().reconcile(block)
    _findings(findings, fmt)
    if any(f.severity == "critical" for f in findings):
        raise typer.Exit(1)


@app.command("check")
def check(ctx: typer.Context, fmt: str = format_option()) -> None:
    """Run every custody check (the law's 5%, performance guarantee and reserves, the
    policy's limits, reconciliation) and whether the watch is alive (a silent watch is a
    breach: it sees no theft); exit 1 on a breach, for cron."""
    rt = runtime(ctx)
    custody = rt.custody()
    result = custody.check()
    online = any(w.tier != "cold" and w.addresses for w in custody.ledger.wallets())
    watch = watch_findings(custody.ledger.store, custody.clock,
                           silence=rt.settings.watch_silence_seconds, watched=online)
    findings = [*[f for f in watch if f.severity == "critical"], *result.findings,
                *[f for f in watch if f.severity != "critical"]]
    _findings(findings, fmt)
    breaches = [f for f in findings if f.severity == "critical"]
    if breaches:
        print(rt.say("cli.check.breaches", count=str(len(breaches))), file=sys.stderr)
        raise typer.Exit(1)


@report_app.command("custody")
def report_custody(
    ctx: typer.Context,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or html."),
    lang: str = typer.Option(None, "--lang", help="ja or en (default: the lang setting when "
                             "set, else ja)."),
    out: Path = typer.Option(None, "--out", "-o", help="File to write (default stdout)."),
    at: str = typer.Option(None, "--at", help="A block number, or a time (ISO 8601 with zone): "
                           "the ledger as it stood then (and the chain at that block)."),
) -> None:
    """The custody report: per asset, hot/warm/cold, shares, guarantee, breaches, in JPY."""
    lang = runtime(ctx).lang_for(lang, document=True)
    if fmt not in ("table", "csv", "json", "html"):
        raise BadInput(f"--format must be table, csv, json or html, not {fmt!r}",
                       says=msg("error.cli.format", formats="table, csv, json, html",
                                format=repr(fmt[:80])))
    custody = runtime(ctx).custody()
    block = when = None
    if at is not None and at.strip().isdigit():
        if custody.chain is None:
            raise ConfigError("--at BLOCK needs a chain node: set KINKO_EVM_RPC_URL",
                              says=msg("error.custody.at_block_needs_node"))
        block = int(at)
        when = datetime.fromtimestamp(custody.chain.block(block).timestamp, UTC)
    elif at is not None:
        when = parse_time(at)
    text = render_custody(custody_report(custody, at=when, block=block), fmt, lang)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(runtime(ctx).say("cli.wrote", path=str(out)))



deposits_app = typer.Typer(help="Customer deposit addresses and crediting from the chain.",
                           no_args_is_help=True)
app.add_typer(deposits_app, name="deposits")


def _deposits(ctx: typer.Context, from_block: int = 0) -> Deposits:
    rt = runtime(ctx)
    chain = rt.chain()
    if chain is None:
        raise ConfigError("no chain node is configured: set KINKO_EVM_RPC_URL",
                          says=msg("error.custody.no_node"))
    tags = rt.settings.nem_tag_mosaics if chain.name in TOKENS else ()  # NEM mosaics
    return Deposits(rt.ledger(), chain, confirmations=rt.settings.confirmations,
                    start_block=from_block, tag_tokens=tags)


@deposits_app.command("address")
def deposits_address(
    ctx: typer.Context,
    customer: str = typer.Argument(..., help="Customer id."),
    asset: str = typer.Option(..., "--asset", help="The asset deposited to it (of the "
                              "configured node's chain; the wallet must hold it)."),
    address: str = typer.Option(..., "--address", help="The exchange-controlled address."),
    wallet: str = typer.Option(..., "--wallet", help="The wallet the address belongs to."),
) -> None:
    """Register a customer's deposit address."""
    canonical = _deposits(ctx).add_address(customer, asset, address, wallet)
    print(runtime(ctx).say("cli.deposits.address", address=canonical,
                           account=f"customer:{customer}", asset=asset))


@deposits_app.command("scan")
def deposits_scan(
    ctx: typer.Context,
    from_block: int = typer.Option(0, "--from-block", help="First block of the first scan."),
    max_blocks: int = typer.Option(None, "--max-blocks", help="Stop after this many blocks."),
) -> None:
    """Credit deposits with enough confirmations; reverse any that a reorg removed."""
    report = _deposits(ctx, from_block).scan(max_blocks)
    say = runtime(ctx).say
    print(say("cli.deposits.scanned", head=str(report.head), scanned=str(report.scanned),
              credited=str(report.credited), reverted=str(report.reverted)))
    for f in report.findings:
        print(f"  [{word(say, 'cu.sev', f.severity)}] {say.text(f.message)}", file=sys.stderr)
    if report.findings:
        raise typer.Exit(1)
