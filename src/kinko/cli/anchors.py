"""Heads kept outside the database: ``--head SEQ:HASH`` and ``--anchor FILE`` of the
``verify`` commands (ledger and audit log).

Someone able to rewrite the database can delete the newest records together with the head,
and the chain that is left is consistent; only a head kept elsewhere shows it. An anchor file
only grows: ``verify --anchor FILE`` checks against its last line and, when the chain is
intact, appends the current head with the time (run it from cron).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from kinko.cli.runtime import speech
from kinko.domain.messages import msg, os_refusal
from kinko.errors import BadInput, EnvironmentProblem
from kinko.safeload import open_input
from kinko.services.access import parse_anchor

__all__ = ["anchor_option", "append_anchor", "head_option", "kept_head"]

_TAIL = 4096  # an anchor file only grows; its last line is all that is read


def head_option() -> Any:
    """``--head SEQ:HASH``: a head printed earlier and kept elsewhere."""
    return typer.Option(None, "--head", metavar="SEQ:HASH",
                        help="A head printed earlier and kept elsewhere.")


def anchor_option() -> Any:
    """``--anchor FILE``: check against its last head, then append the current one."""
    return typer.Option(None, "--anchor", metavar="FILE", help="Check against the last head "
                        "in FILE, then append the current head to it.")


def _last_head(path: Path) -> tuple[int, str] | None:
    """The last head written to an anchor file (None for a new or empty file)."""
    if not path.exists():
        return None
    try:
        with open_input(path, BadInput, pipes=False) as fh:  # read from its end
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - _TAIL))
            tail = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}", says=msg(
            "error.file.cannot_read", file=str(path)[:200], reason=os_refusal(exc))
        ) from None
    lines = [line for line in tail.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return None
    try:
        return parse_anchor(lines[-1], f"{path}: its last line")
    except BadInput as exc:  # said with the file's words in each language
        raise BadInput(exc.message, says=msg("error.audit.anchor_file", file=str(path)[:200],
                                             text=repr(lines[-1].strip()[:80]))) from None


def kept_head(head: str | None, anchor: Path | None) -> tuple[int, str] | None:
    """The head to check against: ``--head`` as given, or the last in ``--anchor``."""
    if head is not None and anchor is not None:
        raise BadInput("give --head or --anchor, not both", says=msg("error.audit.head_or_anchor"))
    if head is not None:
        return parse_anchor(head)
    return _last_head(anchor) if anchor is not None else None


def append_anchor(anchor: Path, head: tuple[int, str]) -> None:
    """Append ``SEQ:HASH TIME`` to the anchor file (after a check that passed)."""
    try:
        with anchor.open("a", encoding="utf-8") as fh:
            fh.write(f"{head[0]}:{head[1]} {datetime.now(UTC).isoformat(timespec='seconds')}\n")
    except OSError as exc:  # the system refuses the write (exit 3, as for every file)
        raise EnvironmentProblem(f"{anchor}: cannot write the head: {exc.strerror}", says=msg(
            "error.audit.anchor_unwritable", file=str(anchor)[:200], reason=os_refusal(exc))
        ) from None
    print(speech()("cli.anchor.appended", path=str(anchor)), file=sys.stderr)
