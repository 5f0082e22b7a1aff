"""``kinko check`` and the custody report say of each online wallet what is true of its key
and what its chain allows: a NEM key cannot go into an HSM and a NEM multisig account is
registered (``wallets add --safe``); a hot wallet added by its address has no key in kinko."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import CliRun, cli_runner

NEM_ADDRESS = "NBTY4UQXFG4VDQGP67ELDHSBST7RQR2RN7PBGERE"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    monkeypatch.delenv("KINKO_EVM_RPC_URL", raising=False)
    monkeypatch.delenv("KINKO_CHAINS", raising=False)
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")


def test_a_nem_hot_wallet_gets_nem_advice(cli: CliRun, tmp_path: Path) -> None:
    """Its key file was called a keystore to keep in an HSM, its remedy `wallets
    create-safe` (a Safe, on Ethereum), even with no NEM node configured."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "xem-hot.nem").write_text("11" * 32 + "\n")
    assert cli("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot", "--address",
               NEM_ADDRESS)[0] == 0
    code, out, err = cli("check", "--format", "csv")
    assert code == 0, err
    nem = [line for line in out.splitlines() if ",XEM," in line]
    assert any(line.startswith("warning,key_in_file,") and "no HSM can hold" in line
               for line in nem), out
    assert any(line.startswith("warning,single_key_hot,") and "wallets add --safe" in line
               for line in nem), out
    assert "HSM (settings" not in "".join(nem) and "create-safe" not in "".join(nem)


def test_a_wallet_added_by_address_has_no_key_in_kinko(cli: CliRun) -> None:
    """The report said "key file", and check `key_in_file`, of a hot wallet whose key kinko
    never had."""
    assert cli("wallets", "add", "eth-hot", "--asset", "ETH", "--tier", "hot", "--address",
               "0x" + "11" * 20)[0] == 0
    code, out, err = cli("check", "--format", "csv")
    assert code == 0 and "single_key_hot" in out and "key_in_file" not in out, out + err
    code, out, err = cli("report", "custody", "--lang", "en", "--format", "json")
    assert code == 0, err
    assert '"keys": "absent"' in out and '"keys": "file"' not in out, out
    code, out, err = cli("report", "custody", "--lang", "en")
    assert code == 0 and "no key in kinko (no key file)" in out and "│ key file" not in out
    code, out, err = cli("report", "custody", "--lang", "ja")
    assert code == 0 and "kinko に鍵なし（鍵ファイルがない）" in out
