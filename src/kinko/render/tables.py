"""Rows of plain values rendered as a Rich table, JSON or CSV.

A renderer takes column names and rows of already-formatted values (strings, ints) and
returns text; the CLI decides where it goes. Amounts arrive as exact decimal strings, so
JSON keeps them as strings: no consumer ever sees a float. A catalog message in a cell
(kinko.domain.messages) is shown in the reader's language in a table, in English in JSON
and CSV, which programs read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kinko.domain.csvcells import csv_writer
from kinko.domain.messages import Message
from kinko.i18n import ENGLISH, Localizer

__all__ = ["FORMATS", "render_rows"]

FORMATS = ("table", "json", "csv")


UNBOUNDED = 400
"""A table's width when nobody reads it on a terminal (a pipe, a file): wide enough that
every line stays whole for ``grep`` and ``cut``."""


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str,
                *, title: str | None = None, right: Sequence[str] = (),
                width: int | None = None, say: Localizer = ENGLISH) -> str:
    """Render ``rows`` under ``columns`` as ``table``, ``json`` (list of objects) or ``csv``.

    A table fits ``width`` columns (a terminal's): right-aligned columns (amounts, counts)
    are never wrapped or cut, the others fold onto more lines, whole, never ellipsised (an
    address or a hash is only useful whole)."""
    reader = say if fmt == "table" else ENGLISH
    rows = [[reader.text(v) if isinstance(v, Message) else v for v in r] for r in rows]
    if fmt == "json":
        return json.dumps([dict(zip(columns, r, strict=True)) for r in rows], indent=2,
                          ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv_writer(out)  # formula injection escaped
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue()
    # every word as plain text: Rich would read "[...]" in a cell (a memo, a note, a code)
    # as its markup, dropping it, or stopping on a closing tag it cannot match
    table = Table(title=Text(title) if title is not None else None, show_lines=False)
    for c in columns:
        if c in right:
            table.add_column(Text(c), justify="right", no_wrap=True)
        else:
            table.add_column(Text(c), justify="left", overflow="fold")
    for r in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in r))
    console = Console(file=io.StringIO(), width=width or UNBOUNDED, force_terminal=False,
                      color_system=None)
    console.print(table)
    out_file = console.file
    assert isinstance(out_file, io.StringIO)
    return out_file.getvalue()
