"""``kinko cosign verify`` on a co-signer's SQLite database where a value it never writes was
put in (text in a number's column, bytes in a text's, the head row deleted): the record is
named as tampering, after any earlier problem, never "a defect in kinko"."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "domain"))

from test_cosign_log import chain

from kinko.services.cosign import verify_log
from kinko.store.cosign_sql import open_cosign_log


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cosign.db"
    log = open_cosign_log(f"sqlite:///{path}")
    with log.transaction() as tables:
        for record in chain(4):
            tables.append(record)
    assert verify_log(log).ok
    log.engine.dispose()
    return path


@pytest.mark.parametrize(("edit", "named"), [
    ("UPDATE cosign_decisions SET amount = 'ten' WHERE seq = 3",
     "cosign_decisions.amount of row 3 holds 'ten'"),
    ("UPDATE cosign_decisions SET nonce = '1.5' WHERE seq = 3",
     "cosign_decisions.nonce of row 3 holds '1.5'"),
    ("UPDATE cosign_decisions SET at_us = 'noon' WHERE seq = 3",
     "cosign_decisions.at_us of row 3 holds 'noon'"),
    ("UPDATE cosign_decisions SET detail = X'FF' WHERE seq = 3",
     "cosign_decisions.detail of row 3 holds b'\\xff'"),
])
def test_an_unreadable_record_is_named_after_an_earlier_problem(db: Path, edit: str,
                                                               named: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(edit)
        conn.execute("UPDATE cosign_decisions SET caller = 'x' WHERE seq = 2")
    log = open_cosign_log(f"sqlite:///{db}", create=False)
    found = verify_log(log).findings
    assert [(f.code, f.seq) for f in found] == [("altered", 2), ("unreadable", 3)], found
    assert found[1].message.startswith(named) and "altered outside kinko" in found[1].message


def test_an_unreadable_signing_row_is_named(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE cosign_signed SET amount = 'x' WHERE record = 3")
    found = verify_log(open_cosign_log(f"sqlite:///{db}", create=False)).findings
    assert [f.code for f in found] == ["unreadable"]
    assert "cosign_signed.amount of row 'withdrawal:W-3' holds 'x'" in found[0].message


def test_verify_names_a_signer_that_is_not_the_co_signers_key(
        db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from test_cosign_log import KEY

    from kinko.cli import main

    (db.parent / "cosign.toml").write_text(f'database_url = "sqlite:///{db}"\n',
                                           encoding="utf-8")
    args = ["cosign", "verify", "--config", str(db.parent / "cosign.toml")]
    assert main(args) == 0
    assert f"signed by: {KEY.address}" in capsys.readouterr().out
    assert main([*args, "--signer", KEY.address.lower()]) == 0
    capsys.readouterr()
    assert main([*args, "--signer", "0x" + "01" * 20]) == 1
    assert f"first problem at record 1: record 1 (signed withdrawal:W-1) is signed by " \
        f"{KEY.address}, not by the co-signer's key" in capsys.readouterr().out
