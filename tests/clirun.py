"""``kinko`` run in-process by the tests, as an operator types it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dbtemplate import migrated_sqlite

__all__ = ["CliRun", "cli_runner"]

CliRun = Callable[..., tuple[int, str, str]]


def cli_runner(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               folder: Path, database_url: str, *, init: bool = True,
               **env: str) -> CliRun:
    """``kinko ARGS`` in-process, in ``folder``, against ``database_url`` with ``KINKO_*``
    (or other) variables ``env``; returns (exit code, stdout, stderr)."""
    from kinko.cli import main

    monkeypatch.chdir(folder)
    monkeypatch.setenv("KINKO_DATABASE_URL", database_url)
    monkeypatch.delenv("COLUMNS", raising=False)  # tables whole, as in a pipe
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    if init:
        # a new SQLite file starts as a copy of this process's migrated template; `init`
        # runs on it as an operator runs it (it finds the schema current, records assets)
        path = Path(database_url.removeprefix("sqlite:///"))
        if database_url.startswith("sqlite:///") and not path.exists():
            migrated_sqlite(path)
        assert run("init")[0] == 0
    return run
