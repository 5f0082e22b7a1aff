"""Editing any journal row directly in the database is reported by ``verify``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from kinko.domain.ledger import Hold, Posting
from kinko.services.ledger import Ledger

XEM = 10**6


def _book(ledger: Ledger) -> None:
    for i in range(1, 7):
        ledger.post(f"d{i}", [Posting("wallet:xem-hot", "XEM", i * XEM),
                              Posting(f"customer:C{i}", "XEM", -i * XEM)], source=f"tx:{i}")
    ledger.open_hold("h", Hold("W-1", "customer:C6", "wallet:xem-hot", "XEM", XEM), source="r")
    ledger.post_hold("p", "W-1", source="tx:w1")
    assert ledger.verify().ok


TAMPERS: dict[str, tuple[str, str, int | None]] = {
    # name: (SQL, expected finding code, first entry named)
    "posting amount": ("UPDATE postings SET amount = '7000000' WHERE entry_seq = 3 AND idx = 0",
                       "altered", 3),
    "posting account": ("UPDATE postings SET account = 'customer:C9' WHERE entry_seq = 2 AND idx = 1",
                        "altered", 2),
    "entry source": ("UPDATE entries SET source = 'forged' WHERE seq = 4", "altered", 4),
    "entry key": ("UPDATE entries SET key = 'other' WHERE seq = 5", "altered", 5),
    "entry time": ("UPDATE entries SET ts_us = ts_us + 1 WHERE seq = 2", "altered", 2),
    "entry deleted": ("DELETE FROM entries WHERE seq = 3", "deleted", 4),
    "posting deleted": ("DELETE FROM postings WHERE entry_seq = 4 AND idx = 1", "altered", 4),
    "hold amount": ("UPDATE holds SET amount = '2' WHERE id = 'W-1'", "altered", 7),
    "balance edited": ("UPDATE balances SET balance = '-99000000' WHERE account = 'customer:C2'",
                       "balance_mismatch", None),
    "last entry deleted": ("DELETE FROM entries WHERE seq = 8", "head_mismatch", 8),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_direct_edit_is_reported(ledger: Ledger, name: str) -> None:
    _book(ledger)
    sql, code, seq = TAMPERS[name]
    _execute(ledger, sql)
    report = ledger.verify()
    assert not report.ok
    first = report.findings[0]
    assert first.code == code, report.findings
    assert first.seq == seq


def test_reordering_is_named(ledger: Ledger) -> None:
    _book(ledger)
    # swap entries 2 and 3 with their postings (positions exchanged, content kept)
    for sql in ("UPDATE entries SET seq = 1002 WHERE seq = 2",
                "UPDATE postings SET entry_seq = 1002 WHERE entry_seq = 2",
                "UPDATE entries SET seq = 2 WHERE seq = 3",
                "UPDATE postings SET entry_seq = 2 WHERE entry_seq = 3",
                "UPDATE entries SET seq = 3 WHERE seq = 1002",
                "UPDATE postings SET entry_seq = 3 WHERE entry_seq = 1002"):
        _execute(ledger, sql)
    report = ledger.verify()
    assert report.findings[0].code == "reordered"
    assert report.findings[0].seq == 2
    assert "moved there from position 3" in report.findings[0].message


def _execute(ledger: Ledger, sql: str, run: Callable[..., object] | None = None) -> None:
    engine = ledger.store.engine  # type: ignore[attr-defined]
    if engine.dialect.name == "postgresql":
        sql = sql.replace("'7000000'", "7000000").replace("'-99000000'", "-99000000") \
                 .replace("'2'", "2")
    with engine.begin() as conn:
        conn.execute(text(sql))
