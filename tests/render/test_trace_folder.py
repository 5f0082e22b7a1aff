"""A trace folder read back to export its tainted addresses (``kinko trace export``): a
folder whose files are not what ``kinko trace run`` writes is refused naming the file, the
line and the column, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from csvquotes import OPEN_QUOTE_JA, open_quote

from kinko.errors import InputFileError
from kinko.render.trace import write_blacklist

HEADER = "address,taint_received,taint_sent,taint_held,first_tainted_block,hops,label," \
    "category,stop\n"
ROW = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,100,0,100,1,1,,,\n"
SUMMARY = {"policy": "poison", "seeds": {"transactions": ["0x01"], "addresses": []}}


def folder(tmp_path: Path, addresses: str, summary: object = SUMMARY) -> Path:
    (tmp_path / "addresses.csv").write_text(addresses, encoding="utf-8")
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return tmp_path


def test_an_addresses_table_saved_by_a_spreadsheet_is_read(tmp_path: Path) -> None:
    """A byte order mark before the header hid the address column (a KeyError, "kinko
    failed unexpectedly")."""
    path, count = write_blacklist(folder(tmp_path, "\ufeff" + HEADER + ROW), "csv")
    assert count == 1 and "0xbbbb" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("addresses, summary, refusal", [
    ("address,taint\n0xb,1\n", SUMMARY,
     r"addresses.csv:1: missing column\(s\) taint_received, taint_held, stop"),
    (HEADER + ROW.replace(",100,0,", ",lots,0,"), SUMMARY,
     r"addresses.csv:2: taint_received 'lots' is not a whole number"),
    (HEADER + ROW, [1, 2], r"summary.json: not a trace summary \(the summary is not"),
    (HEADER + ROW, {"policy": "poison", "seeds": {"transactions": 5}},
     r"summary.json: not a trace summary \(seeds is not"),
    (HEADER + ROW.replace(",,,", "," + "x" * 200_000 + ",,"), SUMMARY,
     r"addresses.csv:2: not readable as CSV \(field larger than field limit"),
], ids=["columns", "taint", "summary", "seeds", "field-limit"])
def test_a_trace_folder_not_as_kinko_wrote_it_is_refused_naming_what(
        tmp_path: Path, addresses: str, summary: object, refusal: str) -> None:
    """Each ended in "kinko failed unexpectedly" (KeyError, ValueError, AttributeError,
    TypeError) and left no blacklist behind; each is now refused, and still leaves none."""
    with pytest.raises(InputFileError, match=refusal) as caught:
        write_blacklist(folder(tmp_path, addresses, summary))
    assert caught.value.says is not None  # said in Japanese too
    assert not (tmp_path / "blacklist.yaml").exists()


C = ROW.replace("0xbbbb", "0xcccc")


@pytest.mark.parametrize("addresses, opened", [
    # the label of the first row ran on over the next: 0xcccc… left out of the blacklist
    (HEADER + ROW.replace(",,,", ',"Hop,,') + C, 2),
    (HEADER + ROW + C.replace(",,,\n", ',,,"'), 3),  # the last field, at the file's end
    (HEADER + ROW + '"' + C + ROW, 3),
])
def test_an_addresses_table_with_a_quote_left_open_is_refused_on_its_line(
        tmp_path: Path, addresses: str, opened: int) -> None:
    """A trace folder may come from another machine: a quote left open in its addresses
    table was read on to the end of the file, the addresses after it not exported, without
    a word. It is refused on the line where the quote opens; no blacklist is written."""
    from kinko.i18n import Localizer

    with pytest.raises(InputFileError) as caught:
        write_blacklist(folder(tmp_path, addresses), "csv")
    assert caught.value.message == open_quote(f"{tmp_path / 'addresses.csv'}:{opened}")
    assert caught.value.says is not None
    assert Localizer("ja").text(caught.value.says).startswith(
        f"{tmp_path / 'addresses.csv'}:{opened}{OPEN_QUOTE_JA}")
    assert not (tmp_path / "blacklist.csv").exists()


def test_a_bad_value_is_named_on_its_line_past_a_blank_one(tmp_path: Path) -> None:
    """The rows were numbered as they were read, a blank line not counted: the value on
    line 4 was said to be on line 3."""
    with pytest.raises(InputFileError, match=r"addresses.csv:4: taint_received 'lots' is "):
        write_blacklist(folder(tmp_path, HEADER + ROW + "\n" + C.replace(",100,0,", ",lots,0,")))
