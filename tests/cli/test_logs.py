"""kinko's log lines carry no credential, whichever library logged the URL."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from clirun import cli_runner

from kinko.cli import app as cli_app
from kinko.cli.logs import MaskedFormatter, log_to_stderr

URL = "http://alice:s3cretpw@node.example:8545/v3/abcdef0123456789abcdef?apikey=TOPSECRET"


def test_a_url_a_library_logs_is_written_with_its_credentials_masked(
        capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    kept = (list(root.handlers), root.level)
    root.handlers = []
    try:
        log_to_stderr("DEBUG")
        log_to_stderr("DEBUG")  # a second call adds no second handler
        assert [type(h.formatter) for h in root.handlers] == [MaskedFormatter]
        web3 = logging.getLogger("web3.providers.HTTPProvider")
        web3.debug("Making request HTTP. URI: %s Method: eth_blockNumber", URL)
        try:
            raise ConnectionError(f"cannot reach {URL}")
        except ConnectionError:
            web3.exception("request failed")
    finally:
        root.handlers, root.level = kept
    err = capsys.readouterr().err
    assert "DEBUG web3.providers.HTTPProvider: Making request HTTP. URI: http://alice:***@" \
           "node.example:8545/v3/***?apikey=*** Method: eth_blockNumber" in err, err
    assert "ConnectionError: cannot reach http://alice:***@" in err, err
    for secret in ("s3cretpw", "TOPSECRET", "abcdef0123456789abcdef"):
        assert secret not in err


def test_every_command_logs_through_it(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    levels: list[str | int] = []
    monkeypatch.setattr(cli_app, "log_to_stderr", levels.append)
    cli = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                     init=False)
    assert cli("--log-level", "DEBUG", "assets", "list")[0] == 0
    assert levels == ["DEBUG"]
