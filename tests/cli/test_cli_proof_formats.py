"""Proof files of other exchanges' formats are refused by name ("unsupported format: looks
like X"), not with the first field kinko's verifier trips on: Binance's real zk-SNARK user
proof and OKX's v1 proof, through ``kinko reserves verify``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import cli_runner

POR = Path(__file__).resolve().parents[1] / "data" / "por"


@pytest.fixture
def kinko(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                      init=False)


def test_other_exchanges_proofs_are_named(kinko, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    binance = POR / "binance" / "user_config.json"
    root = tmp_path / "root.json"
    root.write_text('{"format": "kinko-por-v1", "root_hash": "00"}')
    code, out, _ = kinko("reserves", "verify", str(binance), "--root", str(root))
    assert code == 1 and "FAIL" in out, out  # the kinko verifier's answer to a bad proof
    assert "unsupported format: looks like Binance's zk-SNARK" in out
    code, out, _ = kinko("reserves", "verify", str(POR / "okx_merkle_proof_file.json"),
                         "--root", str(root))
    assert code == 1 and "unsupported format: looks like OKX's v1" in out
    assert "--format okx-v1" in out
    code, _, err = kinko("reserves", "verify", str(binance), "--format", "okx-v1")
    assert code == 2 and "unsupported format: looks like Binance's zk-SNARK" in err, err
    okx = POR / "okx_merkle_proof_file.json"
    code, _, err = kinko("reserves", "verify", str(okx), "--format", "okx-v1")
    assert code == 2 and "--root is required" in err  # its own format: the root is asked for
    published = json.loads(okx.read_text())["path"][-1]["hash"]
    code, out, err = kinko("reserves", "verify", str(okx), "--format", "okx-v1",
                           "--root", published)
    assert code == 0 and out.startswith("OK"), err
