"""Reading the customers' CSV: a row after rows already read (an asset seen, a customer
checked) is checked as fully as the first, with the same file:line messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from csvquotes import OPEN_QUOTE_JA, open_quote

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


def test_column_names_are_read_in_any_case() -> None:
    """An export's ``Customer_ID,Asset,Balance,Tier`` is kinko's header: its tiers are
    recorded (a ``Tier`` column was left unread: every customer standard), and ``Tier``
    beside ``tier`` is a column named twice."""
    tiers: dict[str, str] = {}
    rows = parse_customer_rows(["Customer_ID,Asset,BALANCE,Tier\n", "C1,XEM,1,vip\n"], "c.csv",
                               AssetRegistry.default(), tiers, ("standard", "vip"))
    assert [(r.customer, r.units) for r in rows] == [("C1", 1_000_000)]
    assert tiers == {"C1": "vip"}
    with pytest.raises(InputFileError, match=r"^c.csv:1: column tier appears twice in "
                       r"the header \(columns 4 and 5\)"):
        parse_customer_rows(["customer_id,asset,balance,tier,Tier\n", "C1,XEM,1,vip,\n"],
                            "c.csv", AssetRegistry.default(), {}, ("standard", "vip"))


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


@pytest.mark.parametrize("body, opened", [
    ('C2,"100', 4),  # the file's last line, without its line end
    ('C2,"100\n', 4),
    ('C2,XEM,"100\nC3,XEM,5\nC4,XEM,6\n', 4),  # the rest of the file read into the field
    ('C2,"X""EM",1\nC3,XEM,"1\n', 5),  # a quote written twice inside a field closes none
    ('C2,"XEM\n",1\nC3,XEM,1\n"C4,XEM,1\n', 7),  # the one left open, not a closed one
])
def test_a_quote_left_open_is_named_on_the_line_it_opens(body: str, opened: int) -> None:
    """``C2,"100`` at the end of a file was "missing asset" (the csv module takes a quote
    left open at the file's end as a field that runs to it, without a word): it is an
    unterminated quoted field, named on the line where the quote opens."""
    problems = _problems(body)
    assert problems[-1] == open_quote(f"c.csv:{opened}")


def test_a_quote_left_open_in_the_header_or_past_a_fields_limit_is_named() -> None:
    with pytest.raises(InputFileError, match=r"^c.csv:1: unterminated quoted field"):
        parse_customer_rows(['customer_id,"asset,balance\n', "C1,XEM,1\n"], "c.csv",
                            AssetRegistry.default())
    problems = _problems('C2,XEM,"1\n' + ("9" * 1000 + "\n") * 200)
    assert problems == ["c.csv:4: unterminated quoted field: the double quote that opens it "
                        "here is not closed within the 131,072 characters a field may hold "
                        "(field larger than field limit (131072))"]
    assert _problems('C2,"XEM"x,1\n') == ["c.csv:4: ',' expected after '\"'"]


def test_a_file_with_a_quote_left_open_imports_nothing(ledger: Ledger, tmp_path: Path
                                                       ) -> None:
    from kinko.i18n import Localizer

    path = tmp_path / "c.csv"
    path.write_text('customer_id,asset,balance\nC1,XEM,1\nC2,XEM,2\nC3,"100\n',
                    encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        import_customers(ledger, path, batch_size=1)
    assert caught.value.problems == [open_quote(f"{path}:4")]
    assert caught.value.problems_said is not None
    ja = Localizer("ja").text(caught.value.problems_said[0])
    assert ja.startswith(f"{path}:4{OPEN_QUOTE_JA}")
    assert ledger.balance("customer:C1", "XEM") == 0
    assert ledger.balance("clearing:opening", "XEM") == 0
