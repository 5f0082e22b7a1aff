"""``kinko cosign`` refuses bad settings with one line naming the file and the setting (exit
2), and prints the PostgreSQL rights its role needs; the co-signer's settings are its own
(``KINKO_COSIGN_*``, its own file), never kinko's."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinko.cli import main
from kinko.settings import load_cosign_settings
from kinko.store.cosign_view import KINKO_GRANTS

SAFE = "0x" + "12" * 20


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["cosign", *args])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("body, message", [
    (None, "does not exist"),
    ("listen = 'nowhere'\n", "HOST:PORT"),
    ("lisen = '127.0.0.1:1'\n", "unknown setting(s) lisen"),
    ("signer = 'paper'\n", "hsm, keystore"),
    ("nonce_window = 0\n", "positive whole number"),
    (f"evm_rpc_url = 'http://127.0.0.1:9'\n[[safes]]\naddress = '{SAFE}'\nasset = 'ETH'\n"
     "limit = '1.5 XEM'\n", "not in ETH"),
    (f"evm_rpc_url = 'http://127.0.0.1:9'\n[[safes]]\naddress = '{SAFE}'\nasset = 'ETH'\n"
     "limit = '1 ETH'\nwindow = 'forever'\n", "window"),
    ("evm_rpc_url = 'http://127.0.0.1:9'\n", "KINKO_COSIGN_TOKEN"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch,
                                               body: str | None, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KINKO_COSIGN_TOKEN", raising=False)
    if body is not None:
        (tmp_path / "cosign.toml").write_text(body.replace("'", '"'))
    if body and "limit" in body:  # past the token check, to the [[safes]] table
        monkeypatch.setenv("KINKO_COSIGN_TOKEN", "z" * 40)
    code, text = run(capsys, "serve")
    assert code == 2 and message in text and "Traceback" not in text, text


def test_its_settings_are_its_own(tmp_path: Path) -> None:
    path = tmp_path / "cosign.toml"
    path.write_text('nonce_window = 4\ndatabase_url = "sqlite:///mine.db"\n')
    settings = load_cosign_settings(path, env={"KINKO_COSIGN_NONCE_WINDOW": "8",
                                               "KINKO_DATABASE_URL": "sqlite:///kinko.db"})
    assert settings.nonce_window == 8 and settings.sources["nonce_window"] == \
        "KINKO_COSIGN_NONCE_WINDOW"
    assert settings.database_url == "sqlite:///mine.db"  # kinko's variable is not its own
    assert load_cosign_settings(path, env={}, flags={"listen": "unix:/run/c.sock"}).listen == \
        "unix:/run/c.sock"


def test_grants_print_the_rights_and_no_more(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, "grants", "--role", "cosigner")
    assert code == 0
    assert text.splitlines() == [
        f"GRANT SELECT ON {', '.join(KINKO_GRANTS['SELECT'])} TO cosigner;",
        "GRANT INSERT ON alerts TO cosigner;"]
    assert run(capsys, "grants", "--no-alerts")[1].count("GRANT") == 1
    assert run(capsys, "grants", "--role", "x; DROP TABLE alerts")[0] == 2


def test_a_nem_cosigner_makes_its_key_file_and_needs_its_node(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import stat

    from kinko.chains.nem import NemKey

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KINKO_COSIGN_TOKEN", "z" * 40)
    (tmp_path / "cosign.toml").write_text('chain = "nem"\n')
    code, text = run(capsys, "serve")
    assert code == 2 and "set nis1_url and nem_key_file" in text, text
    (tmp_path / "cosign.toml").write_text('chain = "nem"\nnem_key_file = "nem.key"\n')
    code, text = run(capsys, "keygen")
    assert code == 0, text
    made = NemKey.from_file(tmp_path / "nem.key", "nem")
    assert made.address in text and stat.S_IMODE((tmp_path / "nem.key").stat().st_mode) == 0o600
    assert "nem.key" in text and (tmp_path / "nem.key").read_text().strip() not in text
    code, text = run(capsys, "keygen")
    assert code == 2 and "never overwritten" in text
    assert run(capsys, "address") == (0, made.address + "\n")


def test_its_log_reads_empty_before_it_first_serves(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`log` and `verify` on a co-signer that never served stopped on `no such table:
    cosign_head` (exit 3). Its log is empty: listed empty, verified (an anchor past it is
    still a cut), and nothing is created for a reader; a database with some of its tables
    and not others is still refused."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cosign.toml").write_text("")
    code, text = run(capsys, "log", "--refused")
    assert code == 0 and "record" in text and "error" not in text, text
    code, text = run(capsys, "verify")
    assert code == 0 and "co-signer log OK: 0 records, 0 signed; head 0:" in text, text
    code, text = run(capsys, "verify", "--anchor", "3:" + "ab" * 32)
    assert code == 1 and "the log was cut below it" in text, text
    assert not (tmp_path / "cosign.db").exists()
    import sqlite3

    with sqlite3.connect(tmp_path / "cosign.db") as db:
        db.execute("CREATE TABLE unrelated (a)")  # a database of its own, no co-signer tables
    code, text = run(capsys, "verify", "--format", "json")
    assert code == 0 and '"records": 0' in text, text
    with sqlite3.connect(tmp_path / "cosign.db") as db:
        db.execute("CREATE TABLE cosign_meta (key, value)")
    code, text = run(capsys, "log")
    assert code == 3 and "no such table: cosign_" in text, text
