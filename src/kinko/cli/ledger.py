"""``kinko init``, ``kinko ledger ...``, ``kinko holds ...`` and ``kinko balances``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from kinko.atomic import replacing
from kinko.cli.anchors import anchor_option, append_anchor, head_option, kept_head
from kinko.cli.app import app
from kinko.cli.progress import Advance, progress
from kinko.cli.runtime import SEQ_MAX, emit, format_option, parse_time, runtime, word
from kinko.domain.ledger import ACCOUNT_KINDS, Entry, Hold, Posting, normal_balance, parse_account
from kinko.domain.messages import N_, msg
from kinko.domain.money import parse_units
from kinko.errors import BadInput, KinkoError, StoredValueInvalid
from kinko.render.beancount import export_beancount
from kinko.safeload import loads_json, read_bounded, read_stream
from kinko.store import upgrade

ledger_app = typer.Typer(help="The double-entry journal: post, verify, export.",
                         no_args_is_help=True)
holds_app = typer.Typer(help="Two-phase holds: reserve funds, then post or void once.",
                        no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(holds_app, name="holds")


@app.command("init")
def init(ctx: typer.Context) -> None:
    """Create or migrate the database and record the configured assets."""
    rt = runtime(ctx)
    revision = upgrade(rt.store())
    rt.ledger().sync_assets()
    from kinko.store.values import redact

    print(rt.say("cli.init.ready", url=redact(rt.settings.database_url), revision=revision))


def _leg(rt: Any, text: str, sign: int, flag: str) -> Posting:
    parts = text.split()
    if len(parts) != 3:
        raise BadInput(f"{flag} {text!r}: write ACCOUNT AMOUNT ASSET, e.g. "
                       f"'{flag} \"customer:C1 1.5 XEM\"'",
                       says=msg("error.ledger.leg_format", flag=flag, text=repr(text[:80])))
    account, amount, symbol = parts
    asset, units = rt.money(f"{amount} {symbol}")
    return Posting(account, asset, sign * units)


_ENTRY_KEYS = frozenset({"key", "source", "memo", "timestamp", "postings"})
_POSTING_KEYS = frozenset({"account", "asset", "amount"})


def _entry_json(rt: Any, raw: bytes, where: str) -> dict[str, Any]:
    data = loads_json(raw, where)  # bounded: size and depth before the parser
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a JSON object with key, source and postings",
                       says=msg("error.ledger.entry_not_object", where=where[:200]))
    unknown = sorted(set(data) - _ENTRY_KEYS)
    if unknown:  # a key misspelt ("at" for "timestamp") would be ignored, its value lost
        raise BadInput(f"{where}: unknown key(s) {', '.join(map(repr, unknown))[:200]} (an "
                       f"entry has {', '.join(sorted(_ENTRY_KEYS))})", says=msg(
                           "error.ledger.entry_unknown_keys", where=where[:200],
                           keys=", ".join(map(repr, unknown))[:200],
                           known=", ".join(sorted(_ENTRY_KEYS))))
    for name in ("key", "source", "memo", "timestamp"):  # str() would make {"a": 1} a key
        if not isinstance(data.get(name), str | None):
            raise BadInput(f"{where}: {name} must be a string", field=name, says=msg(
                "error.ledger.entry_field_not_string", where=where[:200], name=name))
    if not isinstance(data.get("postings"), list | None):
        raise BadInput(f"{where}: postings must be a list of postings", field="postings",
                       says=msg("error.ledger.entry_postings_not_list", where=where[:200]))
    postings = []
    for i, p in enumerate(data.get("postings") or []):
        label = f"{where}: postings[{i}]"
        if not isinstance(p, dict) or set(p) != _POSTING_KEYS:
            raise BadInput(f"{label}: needs account, asset and amount, and nothing else",
                           says=msg("error.ledger.posting_needs", where=where[:200], index=i))
        if not isinstance(p["account"], str) or not isinstance(p["asset"], str):
            raise BadInput(f"{label}: account and asset must be strings", says=msg(
                "error.ledger.posting_not_strings", where=where[:200], index=i))
        if not isinstance(p["amount"], str | int) or isinstance(p["amount"], bool):
            raise BadInput(f"{label}.amount: write the amount as a decimal string like \"1.5\" "
                           "(debit positive, credit negative); floats are refused", says=msg(
                               "error.ledger.posting_amount_text", where=where[:200], index=i))
        try:
            asset = rt.assets[str(p["asset"])]
            units = parse_units(str(p["amount"]), asset, allow_negative=True)
        except KinkoError as exc:
            raise BadInput(f"{label}: {exc.message}", says=msg(  # said with its own words
                "error.ledger.posting_refused", where=where[:200], index=i,
                problem=exc.said())) from None
        postings.append(Posting(str(p["account"]), asset.symbol, units))
    data["postings"] = postings
    return data


@ledger_app.command("post")
def post(
    ctx: typer.Context,
    key: str = typer.Option(None, "--key", help="Idempotency key (required unless in --json)."),
    source: str = typer.Option(None, "--source", help="Where it comes from: tx hash, request id."),
    memo: str = typer.Option("", "--memo", help="A note kept with the entry (part of its "
                             "hashed content); replaces the memo in --json."),
    debit: list[str] = typer.Option([], "--debit", help="'ACCOUNT AMOUNT ASSET' (repeatable)."),
    credit: list[str] = typer.Option([], "--credit", help="'ACCOUNT AMOUNT ASSET' (repeatable)."),
    at: str = typer.Option(None, "--at", help="Entry time, ISO 8601 with zone (default now)."),
    json_file: str = typer.Option(None, "--json",
                                  help="Read the entry from a JSON file ('-' for stdin)."),
    fmt: str = format_option(),
) -> None:
    """Append one balanced entry from flags or from JSON."""
    rt = runtime(ctx)
    data: dict[str, Any] = {}
    if json_file is not None:
        raw = (read_stream(sys.stdin.buffer, "stdin") if json_file == "-"
               else read_bounded(Path(json_file), error=BadInput))
        data = _entry_json(rt, raw, "stdin" if json_file == "-" else json_file)
    postings = list(data.get("postings", []))
    postings += [_leg(rt, d, 1, "--debit") for d in debit]
    postings += [_leg(rt, c, -1, "--credit") for c in credit]
    key_text = key or data.get("key")
    source_text = source or data.get("source")
    if not key_text or not source_text:
        raise BadInput("an entry needs --key (idempotency key) and --source",
                       says=msg("error.ledger.entry_needs_key_source"))
    when = at or data.get("timestamp")
    result = rt.ledger().post(str(key_text), postings, source=str(source_text),
                              memo=memo or str(data.get("memo", "")),
                              timestamp=parse_time(str(when)) if when else None)
    _show_entries(rt, [result.entry], fmt, replayed=result.replayed)


# an entry's kind as a table says it (``word(cells, "entry.kind", kind)``)
_ENTRY_KINDS = (N_("entry.kind.transfer"), N_("entry.kind.hold"), N_("entry.kind.post"),
                N_("entry.kind.void"), N_("entry.kind.expire"))


def _show_entries(rt: Any, entries: list[Entry], fmt: str, *, replayed: bool = False) -> None:
    rows = []
    cells = rt.cells(fmt)
    for e in entries:
        kind = word(cells, "entry.kind", e.kind)
        for p in e.postings or ():
            rows.append([e.seq, kind, e.key, e.timestamp.isoformat(), p.account,
                         rt.show(p.asset, p.amount), p.asset, e.hash[:16]])
        if not e.postings and e.hold is not None:
            h = e.hold
            rows.append([e.seq, kind, e.key, e.timestamp.isoformat(),
                         f"{h.debit} -> {h.credit}", rt.show(h.asset, h.amount), h.asset,
                         e.hash[:16]])
    title = rt.say("cli.ledger.replayed") if replayed else None
    emit(["seq", "kind", "key", "time", "account", "amount", "asset", "hash"], rows, fmt,
         title=title, right=("amount",))


@ledger_app.command("entries")
def entries(
    ctx: typer.Context,
    after: int = typer.Option(0, "--after", min=0, max=SEQ_MAX,
                              help="Show entries after this sequence number."),
    limit: int = typer.Option(50, "--limit", min=1, max=100_000,
                              help="At most this many entries (each with all its postings)."),
    fmt: str = format_option(),
) -> None:
    """List journal entries with their postings."""
    rt = runtime(ctx)
    _show_entries(rt, rt.ledger().entries(after, limit), fmt)


@ledger_app.command("verify")
def verify(ctx: typer.Context, head: str = head_option(), anchor: Path = anchor_option(),
           fmt: str = format_option()) -> None:
    """Recompute the hash chain and balances; name the first altered/deleted/reordered entry
    (exit 1). Print the head to keep elsewhere."""
    rt = runtime(ctx)
    ledger = rt.ledger()
    try:
        entries = ledger.head()[0]
    except StoredValueInvalid:  # the head row altered: verify names it
        entries = 0
    say = rt.say
    with progress(say("cli.progress.verify")) as advance:
        report = ledger.verify(anchor=kept_head(head, anchor),
                               progress=lambda done: advance(done, entries))
    seq, head_hash = report.head
    if fmt == "json":
        print(json.dumps({"ok": report.ok, "entries": report.entries, "head_seq": seq,
                          "head_hash": head_hash, "balances": report.balances,
                          "findings": [asdict(f) for f in report.findings]}, indent=2))
    elif report.ok:
        print(say("cli.ledger.ok", entries=str(report.entries), balances=str(report.balances),
                  head=f"{seq}:{head_hash}"))
        print(say("cli.ledger.keep_head"))
    else:
        first = report.findings[0]
        print(say("cli.ledger.tampered", seq=str(first.seq), problem=first.message)
              if first.seq is not None else say("cli.ledger.inconsistent",
                                                problem=first.message))
        emit(["code", "entry", "finding"],
             [[f.code, f.seq if f.seq is not None else "", f.message] for f in report.findings],
             "table" if fmt == "table" else fmt)
    if not report.ok:
        raise typer.Exit(1)
    if anchor is not None:
        append_anchor(anchor, report.head)


@ledger_app.command("export")
def export(
    ctx: typer.Context,
    fmt: str = typer.Option("beancount", "--format", "-f", help="Export format: beancount."),
    out: Path = typer.Option(None, "--out", "-o", help="File to write (default stdout)."),
) -> None:
    """Export the journal (Beancount: `bean-check` verifies it independently)."""
    if fmt != "beancount":
        raise BadInput(f"--format must be beancount, not {fmt!r}",
                       says=msg("error.ledger.export_format", format=repr(fmt[:80])))
    rt = runtime(ctx)
    ledger = rt.ledger()
    entries = ledger.head()[0]
    with progress(rt.say("cli.progress.export")) as advance:
        chunks = export_beancount(_counted(ledger.stream(), advance, entries), rt.assets)
        if out is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            return
        with replacing(out) as tmp, tmp.open("w", encoding="utf-8") as fh:
            fh.writelines(chunks)  # beside --out, renamed over it when whole
    print(rt.say("cli.wrote", path=str(out)))


def _counted(entries: Iterable[Entry], advance: Advance, total: int) -> Iterator[Entry]:
    """``entries`` as they are read, moving the bar every thousand."""
    done = 0
    for done, entry in enumerate(entries, 1):
        if done % 1000 == 0:
            advance(done, total)
        yield entry
    advance(done, total)


@app.command("balances")
def balances(
    ctx: typer.Context,
    customer: str = typer.Option(None, "--customer", help="One customer's id."),
    account: str = typer.Option(None, "--account", help="One account, e.g. wallet:xem-hot."),
    kind: str = typer.Option(None, "--kind", help=f"Account kind: {', '.join(ACCOUNT_KINDS)}."),
    asset: str = typer.Option(None, "--asset", help="One asset."),
    as_of_entry: int = typer.Option(None, "--as-of-entry", min=0, max=SEQ_MAX,
                                    help="Balances after entry N."),
    as_of: str = typer.Option(None, "--as-of", help="Balances at a time (ISO 8601 with zone)."),
    limit: int = typer.Option(None, "--limit", min=1, max=100_000,
                              help="At most this many rows (then the cursor of the next page "
                                   "is printed on standard error)."),
    after: str = typer.Option(None, "--after", metavar="ACCOUNT/ASSET",
                              help="Start after this row: the cursor a page printed."),
    fmt: str = format_option(),
) -> None:
    """Balances of accounts, now or as of an earlier entry or time; `--limit` pages through
    many (`--after` the cursor printed at the end of a page)."""
    rt = runtime(ctx)
    if customer is not None:
        account = f"customer:{customer}"
    if kind is not None and kind not in ACCOUNT_KINDS:
        raise BadInput(f"--kind must be one of {', '.join(ACCOUNT_KINDS)}, not {kind!r}",
                       says=msg("error.ledger.balances_kind", kinds=", ".join(ACCOUNT_KINDS),
                                kind=repr(kind[:80])))
    cursor = _cursor(after) if after is not None else None
    rows = rt.ledger().balances(account=account, kind=kind, asset=asset,
                                as_of_seq=as_of_entry,
                                as_of_time=parse_time(as_of) if as_of else None,
                                after=cursor, limit=limit)
    historical = as_of_entry is not None or as_of is not None
    out = []
    for r in rows:
        shown = normal_balance(r.account, r.state)
        held = r.state.pending_debit if shown == -r.state.balance else r.state.pending_credit
        line: list[object] = [r.account, r.asset, rt.show(r.asset, shown)]
        if not historical:
            line += [rt.show(r.asset, held), rt.show(r.asset, shown - held)]
        out.append(line)
    cols = ["account", "asset", "balance"] + ([] if historical else ["held", "available"])
    emit(cols, out, fmt, right=("balance", "held", "available"))
    if limit is not None and len(rows) == limit:
        last = rows[-1]
        print(rt.say("cli.balances.more", cursor=f"{last.account}/{last.asset}"),
              file=sys.stderr)


def _cursor(text: str) -> tuple[str, str]:
    """``ACCOUNT/ASSET`` (the last row of a page) as the key to start after."""
    account, sep, asset = text.rpartition("/")
    if not sep or not account or not asset:
        raise BadInput(f"--after must be ACCOUNT/ASSET as a page printed it "
                       f"(customer:C0001/XEM), not {text!r}", field="--after",
                       says=msg("error.ledger.balances_cursor", text=repr(text[:80])))
    parse_account(account)
    return account, asset


@holds_app.command("open")
def hold_open(
    ctx: typer.Context,
    key: str = typer.Option(..., "--key", help="Idempotency key."),
    hold_id: str = typer.Option(..., "--id", help="Hold id (e.g. the withdrawal request id)."),
    debit: str = typer.Option(..., "--debit", help="Account debited when posted (customer:ID)."),
    credit: str = typer.Option(..., "--credit", help="Account credited when posted."),
    amount: str = typer.Option(..., "--amount", help="Amount and asset, e.g. '10 XEM'."),
    expires: str = typer.Option(None, "--expires", help="ISO time or duration (30m, 24h)."),
    source: str = typer.Option(..., "--source", help="Where it comes from: tx hash, request "
                               "id."),
    memo: str = typer.Option("", "--memo", help="A note kept with the entry (part of its "
                             "hashed content)."),
    fmt: str = format_option(),
) -> None:
    """Reserve funds for a transfer without moving them."""
    rt = runtime(ctx)
    asset, units = rt.money(amount)
    hold = Hold(hold_id, debit, credit, asset, units,
                parse_time(expires) if expires else None)
    result = rt.ledger().open_hold(key, hold, source=source, memo=memo)
    _show_entries(rt, [result.entry], fmt, replayed=result.replayed)


@holds_app.command("post")
def hold_post(
    ctx: typer.Context,
    key: str = typer.Option(..., "--key", help="Idempotency key."),
    hold_id: str = typer.Option(..., "--id", help="The hold to post (its id)."),
    amount: str = typer.Option(None, "--amount", help="Part to post (default: all)."),
    source: str = typer.Option(..., "--source", help="Where it comes from: tx hash, request "
                               "id."),
    memo: str = typer.Option("", "--memo", help="A note kept with the entry (part of its "
                             "hashed content)."),
    fmt: str = format_option(),
) -> None:
    """Resolve a hold by moving all or part of it; the rest is released."""
    rt = runtime(ctx)
    units = None
    if amount is not None:
        asset, units = rt.money(amount)
        found = rt.ledger().hold(hold_id)
        if found is not None and found[0].asset != asset:
            raise BadInput(f"hold {hold_id} is in {found[0].asset}, not {asset}",
                           says=msg("error.hold.other_asset", hold=hold_id[:128],
                                    held=found[0].asset, asset=asset))
    result = rt.ledger().post_hold(key, hold_id, units, source=source, memo=memo)
    _show_entries(rt, [result.entry], fmt, replayed=result.replayed)


@holds_app.command("void")
def hold_void(
    ctx: typer.Context,
    key: str = typer.Option(..., "--key", help="Idempotency key."),
    hold_id: str = typer.Option(..., "--id", help="The hold to void (its id)."),
    source: str = typer.Option(..., "--source", help="Where it comes from: tx hash, request "
                               "id."),
    memo: str = typer.Option("", "--memo", help="A note kept with the entry (part of its "
                             "hashed content)."),
    fmt: str = format_option(),
) -> None:
    """Resolve a hold by releasing it; nothing moves."""
    rt = runtime(ctx)
    result = rt.ledger().void_hold(key, hold_id, source=source, memo=memo)
    _show_entries(rt, [result.entry], fmt, replayed=result.replayed)


@holds_app.command("expire")
def hold_expire(ctx: typer.Context) -> None:
    """Resolve every hold whose expiry has passed (appends also do this first)."""
    rt = runtime(ctx)
    expired = rt.ledger().expire_holds()
    print(rt.say("cli.holds.expired", count=str(len(expired))))


@holds_app.command("list")
def hold_list(ctx: typer.Context, fmt: str = format_option()) -> None:
    """Pending holds: what is reserved, on which accounts, until when."""
    rt = runtime(ctx)
    rows = [[h.id, h.debit, h.credit, rt.show(h.asset, h.amount), h.asset,
             h.expires_at.isoformat() if h.expires_at else ""]
            for h in rt.ledger().pending_holds()]
    emit(["hold", "debit", "credit", "amount", "asset", "expires"], rows, fmt, right=("amount",))
