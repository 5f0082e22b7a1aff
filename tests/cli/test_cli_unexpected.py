"""What no kinko error covers still ends in one line on stderr, never a traceback: the
operating system's refusal in its own words (exit 3), a defect with its class and where in
kinko it happened, never its text (exit 70)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")


def test_a_file_the_system_will_not_write_is_one_line(cli: CliRun, tmp_path: Path) -> None:
    code, out, err = cli("ledger", "export", "--out", str(tmp_path / "no-such-dir" / "j.bean"))
    assert code == 3, (out, err)
    assert err.startswith("error: No such file or directory: ") and "no-such-dir" in err, err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1


def test_a_defect_says_where_it_happened_and_not_what_it_was_given(
        cli: CliRun, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import kinko.cli.assets

    def broken(*_args: object, **_kw: object) -> None:
        raise ValueError("hunter2 is not a number")

    monkeypatch.setattr(kinko.cli.assets, "emit", broken)
    with caplog.at_level(logging.DEBUG, logger="kinko.cli"):
        code, out, err = cli("assets", "list")
    assert code == 70, (out, err)
    assert err.startswith("error: kinko failed unexpectedly (ValueError at kinko/"), err
    assert "--log-level DEBUG" in err and "hunter2" not in out + err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1
    (record,) = [r for r in caplog.records if r.name == "kinko.cli"]
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_an_export_with_no_file_name_or_into_a_pipe_is_refused(cli: CliRun,
                                                                 tmp_path: Path) -> None:
    """``kinko ledger export --out ''`` was a defect (exit 70); into a FIFO it renamed its
    ``.tmp`` file over the FIFO, and a run stopped half-way left ``j.bean.tmp`` behind."""
    import os

    code, _, err = cli("ledger", "export", "--out", "")
    assert code == 2 and err == "error: '.' names no file to write\n", err
    os.mkfifo(tmp_path / "pipe")
    code, _, err = cli("ledger", "export", "--out", str(tmp_path / "pipe"))
    assert code == 2 and "pipe is not a regular file" in err, err
    assert (tmp_path / "pipe").is_fifo()
    assert cli("ledger", "export", "--out", str(tmp_path / "j.bean"))[0] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or
                p.suffix == ".tmp"]
