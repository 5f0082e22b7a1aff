"""CLI tables: they fit the terminal without cutting a number or an address short."""

from __future__ import annotations

import pytest

from kinko.cli.runtime import terminal_width
from kinko.render.tables import render_rows

ADDRESS = "0x" + "ab" * 20
AMOUNT = "523,000,000.000000"


def _rows() -> list[list[object]]:
    return [[f"customer:{i:06d}", ADDRESS, "XEM", AMOUNT] for i in range(3)]


def test_a_table_fits_a_narrow_terminal_and_cuts_nothing() -> None:
    text = render_rows(["account", "destination", "asset", "balance"], _rows(), "table",
                       right=("balance",), width=60)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert "…" not in text
    assert text.count(AMOUNT) == 3  # amounts whole, on one line each
    column = "".join(parts[2].strip() for line in lines
                     if len(parts := line.split("│")) == 6)
    assert column == ADDRESS * 3  # folded onto more lines, every character kept


def test_a_table_in_a_pipe_keeps_its_lines_whole() -> None:
    text = render_rows(["account", "destination", "asset", "balance"], _rows(), "table",
                       right=("balance",))
    assert sum(ADDRESS in line for line in text.splitlines()) == 3


def test_the_terminal_width_comes_from_columns_or_the_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    assert terminal_width() == 72
    monkeypatch.delenv("COLUMNS")
    assert terminal_width() is None  # pytest captures stdout: not a terminal


def test_square_brackets_in_a_cell_are_text() -> None:
    text = render_rows(["code", "[h]"], [["[no_such_request] refused", "[/]"]], "table",
                       title="[t]")
    assert "[no_such_request] refused" in text and "[/]" in text
    assert "[h]" in text and "[t]" in text
