"""No cell kinko writes can run as a spreadsheet formula; numbers stay numbers; kinko reads
back exactly what it wrote; and every CSV writer in kinko goes through the one function."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_refunds import XEM, plan_for

from kinko.domain.csvcells import TRIGGERS, csv_writer, escape_cell, unescape_cell
from kinko.domain.refunds import parse_plan_document, parse_refunds_csv, plan_document, refunds_csv
from kinko.render.tables import render_rows

SRC = Path(__file__).resolve().parents[2] / "src" / "kinko"
HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3",
           "@SUM(A1:A9)", "\t=1+1", "\r=1", "\n=1", "\uff1d1+1", "'=1", "'"]


def test_formulas_are_escaped_and_numbers_are_not() -> None:
    assert [escape_cell(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    for number in ("-1.5", "-1,234.000001", "0", "12", "-0.000000000000000001"):
        assert escape_cell(number) == number
    for value in (-15, Decimal("-1.5"), None, 0, ""):
        assert escape_cell(value) == value
    for text in ("ETH", "customer:C1", "0x5290", "stolen funds", "1e5", "- 1"):
        assert escape_cell(text) == text or text[0] in TRIGGERS


@settings(max_examples=300)
@given(st.text(max_size=20))
def test_no_text_reaches_a_spreadsheet_as_a_formula(text: str) -> None:
    cell = escape_cell(text)
    assert unescape_cell(cell) == text
    if cell and cell[0] in TRIGGERS:
        assert re.fullmatch(r"-[0-9][0-9,]*(\.[0-9]+)?", cell)  # a negative number only


@settings(max_examples=100)
@given(st.lists(st.lists(st.text(max_size=8) | st.integers(), min_size=1, max_size=4),
                max_size=5))
def test_what_kinko_writes_it_reads_back(rows: list[list[object]]) -> None:
    out = io.StringIO(newline="")
    csv_writer(out).writerows(rows)
    back = [[unescape_cell(c) for c in r]
            for r in csv.reader(io.StringIO(out.getvalue(), newline=""))]
    assert back == [[str(c) for c in r] for r in rows]


def test_the_command_lines_csv_output_is_escaped() -> None:
    text = render_rows(["customer", "amount"], [["=evil()", "-1.5"], ["@x", 3]], "csv")
    assert text.splitlines() == ["customer,amount", "'=evil(),-1.5", "'@x,3"]


def test_refund_lists_escape_customer_ids_and_read_them_back() -> None:
    plan = plan_for([("-2+3", 1_000000), ("@SUM", 500000), ("C", 5_646000)])
    data = refunds_csv(plan)
    assert data.decode().splitlines()[1:3] == ["'-2+3,1000000,1,88", "'@SUM,500000,0.5,44"]
    doc = parse_plan_document(plan_document(plan, hashlib.sha256(data).hexdigest()), "p.json")
    back = parse_refunds_csv(data, "r.csv", doc, XEM)
    assert back.customers == ("-2+3", "@SUM", "C")


def test_every_csv_writer_in_kinko_goes_through_the_escaping_one() -> None:
    writers = [f"{path.relative_to(SRC)}:{n}" for path in SRC.rglob("*.py")
               for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"csv\.(writer|DictWriter)\(", line)]
    assert {w.split(":")[0] for w in writers} == {"domain/csvcells.py"}, writers
