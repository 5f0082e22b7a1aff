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
