"""``kinko audit list`` and ``kinko audit verify``: read and check the hash-chained audit log.

``verify`` recomputes every record's hash and prints the head (``SEQ:HASH``). As for the
ledger, keep that head somewhere the database's writers cannot reach: someone who can
rewrite the database can also delete the newest records together with the head, and only
a head kept elsewhere shows it. ``--head SEQ:HASH`` checks against one; ``--anchor FILE``
reads the last head from FILE and, when the log is intact, appends the current one (run it
from cron and the file is the anchor)::

    kinko audit verify --anchor /secure/kinko-audit.anchor
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from kinko.cli.anchors import anchor_option, append_anchor, head_option, kept_head
from kinko.cli.app import app
from kinko.cli.runtime import emit, format_option, runtime, speech
from kinko.ports import SystemClock
from kinko.services.access import Access, AuditCheck

audit_app = typer.Typer(help="The hash-chained audit log: who did what, and every refusal "
                        "that matters.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

def _access(ctx: typer.Context) -> Access:
    rt = runtime(ctx)
    rt.ledger()  # checks the schema
    return Access(rt.store(), SystemClock())


@audit_app.command("list")
def audit_list(ctx: typer.Context,
               after: int = typer.Option(0, "--after", min=0, max=2**62,
                                         help="Show records after this sequence number."),
               limit: int = typer.Option(50, "--limit", min=1, max=100_000,
                                         help="At most this many records (of the actions "
                                         "--action picks)."),
               action: str = typer.Option("", "--action",
                                          help="Only actions starting with this, e.g. "
                                          "sign_in or withdrawal.approve."),
               fmt: str = format_option()) -> None:
    """Audit records in order: sequence, time, actor, action, target, detail."""
    rows = _access(ctx).audit_log(after, limit, action)
    emit(["seq", "at", "actor", "action", "target", "detail", "hash"],
         [[r["seq"], r["at"].isoformat(), r["actor"], r["action"], r["target"], r["detail"],
           r["hash"] if fmt != "table" else r["hash"][:16]]
          for r in rows], fmt)


def _show(check: AuditCheck, fmt: str) -> None:
    say = speech()
    seq, head = check.head
    if fmt == "json":
        print(json.dumps({"ok": check.ok, "records": check.records, "head_seq": seq,
                          "head_hash": head,
                          "problems": [asdict(p) for p in check.problems]}, indent=2))
    elif check.ok:
        print(say("cli.audit.ok", records=str(check.records), head=f"{seq}:{head}"))
        print(say("cli.audit.keep_head"))
    else:
        first = check.problems[0]
        print(say("cli.audit.tampered", seq=str(first.seq), problem=first.message))
        emit(["record", "problem"], [[p.seq, p.message] for p in check.problems],
             "table" if fmt == "table" else fmt)


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, head: str = head_option(),
                 anchor: Path = anchor_option(), fmt: str = format_option()) -> None:
    """Recompute the hash chain; name the first record altered, deleted or reordered
    (exit 1). Print the head to keep elsewhere."""
    check = _access(ctx).check_audit(kept_head(head, anchor))
    _show(check, fmt)
    if not check.ok:
        raise typer.Exit(1)
    if anchor is not None:
        append_anchor(anchor, check.head)
