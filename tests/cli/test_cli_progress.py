"""Progress bars on long commands: on a terminal's standard error, never in the data."""

from __future__ import annotations

import pytest

from kinko.cli.progress import progress


def test_the_bar_goes_to_standard_error_on_a_terminal(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: behave as on a terminal
    with progress("verifying entries") as advance:
        for done in range(0, 5001, 1000):
            advance(done, 5000)
    out, err = capsys.readouterr()
    assert out == ""
    assert "verifying entries" in err


def test_no_bar_in_a_pipe(monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    with progress("verifying entries") as advance:
        advance(10, 10)
    assert capsys.readouterr() == ("", "")
