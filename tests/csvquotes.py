"""What kinko says of a quoted CSV field left open before the end of its file, as the tests
of each reader that says it (customers, prices, labels, trades, a trace's files) expect it."""

from __future__ import annotations

__all__ = ["OPEN_QUOTE_JA", "open_quote"]

OPEN_QUOTE_JA = "：引用符で囲まれたフィールドが閉じていません"
"""The Japanese, after ``file:line``."""


def open_quote(where: str) -> str:
    """The English, for the quote that opens at ``where`` (``file:line``)."""
    return (f"{where}: unterminated quoted field: the double quote that opens it here is not "
            "closed before the end of the file")
