"""Reading the customers' CSV: a row after rows already read (an asset seen, a customer
checked) is checked as fully as the first, with the same file:line messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinko.domain.money import AssetRegistry
from kinko.errors import InputFileError
from kinko.services.customers import import_customers, parse_customer_rows
from kinko.services.ledger import Ledger

GOOD = "C1,XEM,1\nC1,JPY,300\n"  # the assets XEM and JPY and the customer C1 read first


def _problems(body: str) -> list[str]:
    with pytest.raises(InputFileError) as caught:
        parse_customer_rows(("customer_id,asset,balance\n" + GOOD + body).splitlines(True),
                            "c.csv", AssetRegistry.default())
    return list(caught.value.details["problems"])


@pytest.mark.parametrize("row, problem", [
    ("C2,XEM,abc", "c.csv:4: 'abc' is not a plain decimal number"),
    ("C2,XEM,-1", "c.csv:4: negative amount"),
    ("C2,XEM,1.0000001", "c.csv:4: 1.0000001 XEM has 7 decimal places"),
    ("C2,XEM,NaN", "c.csv:4: 'NaN' is not a number of XEM"),
    ("C 2,XEM,1", "c.csv:4: account 'customer:C 2'"),
    ("C1,XEM,2", "c.csv:4: duplicate customer C1 asset XEM (first on line 2)"),
    ("C2,DOGE,1", "c.csv:4: unknown asset 'DOGE'"),
    ("C2,XEM", "c.csv:4: missing balance"),
    ("C2,,1", "c.csv:4: missing asset"),
    (",XEM,1", "c.csv:4: missing customer_id"),
    # "1,000" unquoted is two fields: a balance of 1 and one no column names
    ("C2,XEM,1,000", "c.csv:4: 4 fields where the header has 3 (a value with a comma"),
    ("C1,BTC,1,000", "c.csv:4: 4 fields where the header has 3"),
])
def test_a_bad_row_after_good_ones_is_refused_naming_its_line(row: str, problem: str) -> None:
    problems = _problems(row + "\n")
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_a_column_named_twice_is_refused_and_empty_fields_past_the_header_are_none(
        ) -> None:
    """Two balance columns: which one is the balance would be a guess (the first was
    taken, silently). A trailing comma (empty fields past the header) says nothing."""
    with pytest.raises(InputFileError, match=r"^c.csv:1: column balance appears twice in "
                       r"the header \(columns 3 and 4\)"):
        parse_customer_rows(["customer_id,asset,balance,balance\n", "C1,XEM,1,1000\n"],
                            "c.csv", AssetRegistry.default())
    rows = parse_customer_rows(["customer_id,asset,balance\n", "C1,XEM,1,\n", "C2,XEM,2, ,\n"],
                               "c.csv", AssetRegistry.default())
    assert [r.units for r in rows] == [1_000_000, 2_000_000]


def test_rows_read_after_good_ones_are_the_same_rows() -> None:
    text = ("customer_id,asset,balance\n" + GOOD
            + " C2 , XEM , 0010.500000 \n\n,,\nC2,JPY,7\nC3,ETH,0.000000000000000001\n")
    rows = parse_customer_rows(text.splitlines(True), "c.csv", AssetRegistry.default())
    assert [tuple(r) for r in rows] == [
        (2, "customer:C1", "XEM", 1_000_000), (3, "customer:C1", "JPY", 300),
        (4, "customer:C2", "XEM", 10_500_000), (7, "customer:C2", "JPY", 7),
        (8, "customer:C3", "ETH", 1)]


def test_the_import_reports_each_assets_total_written_or_skipped(ledger: Ledger,
                                                                  tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,asset,balance\nC1,XEM,1.5\nC1,JPY,300\nC2,XEM,0\nC3,XEM,2\n"
                   "C4,JPY,5\nC5,ETH,0.000000000000000001\n")
    expected = {"XEM": 3_500_000, "JPY": 305, "ETH": 1}
    first = import_customers(ledger, csv, batch_size=2)
    assert first.totals == expected and first.zero_rows == 1 and first.batches_written == 3
    again = import_customers(ledger, csv, batch_size=2)  # every batch skipped: the same totals
    assert again.totals == expected and again.batches_skipped == 3
    assert ledger.balance("clearing:opening", "XEM") == 3_500_000
