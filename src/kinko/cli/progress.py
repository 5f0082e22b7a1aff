"""Progress on long commands (imports, ``ledger verify``, snapshots, exports, refunds).

The bar goes to standard error and only when that is a terminal, so that standard output
stays the command's data (JSON, CSV, a Beancount file) and a log or a pipe gets no
escape codes; it is removed when the command ends. What the command prints meanwhile goes where it
would go without a bar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Advance", "progress"]

Advance = Callable[[int, "int | None"], None]
"""``advance(done, total)``: ``done`` items of ``total`` (None while it is not known)."""


@contextmanager
def progress(label: str) -> Iterator[Advance]:
    """A bar labelled ``label``; yields the function that moves it."""
    console = Console(stderr=True)
    with Progress(TextColumn(escape(label)), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal,
                  redirect_stdout=False, redirect_stderr=False) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int | None = None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
