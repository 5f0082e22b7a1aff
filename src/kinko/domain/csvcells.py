"""Cells a spreadsheet will not run: every CSV kinko writes goes through :func:`escape_cell`.

Spreadsheets read a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a formula (a tab
or a carriage return before one is skipped, and Japanese input methods turn the full-width
``＝＋－＠`` into formulas too). A label from a TagPack, a customer id, an operator's note or
an attacker's address written into the FSA appendix, a refund list or a trace's files could
then run ``=HYPERLINK(...)`` or worse on the machine of whoever opens it. So a text cell
that begins with one of those characters, or with a line break, is written with a leading
apostrophe, which spreadsheets show as text and do not display; a cell that already begins
with an apostrophe gets one more, so :func:`unescape_cell` gives back exactly what was
written (kinko's readers of its own files undo it)::

    >>> [escape_cell(v) for v in ("=1+1", "'x", "ETH", -15, "-1,234.5", "-2+3")]
    ["'=1+1", "''x", 'ETH', -15, '-1,234.5', "'-2+3"]

Numbers stay numbers: integers and Decimals pass as they are, and so does text that is
entirely a plain decimal number (ASCII digits, thousands commas, one point, a leading
minus). A genuinely negative amount such as ``-1.5`` stays readable and sortable: a
spreadsheet reads it as minus one and a half, and no formula fits in digits, commas, one
point and a minus.

A quoted field whose closing quote is missing (``C1,"100`` at the end of a file) is not an
error to Python's csv module unless it reads with ``strict=True``, and even then it says
"unexpected end of data" at the file's last line: a reader that gives its lines through
:class:`RecordLines` finds the line where that quote opened (:meth:`RecordLines.quote_left_open`)
and says so (:func:`unclosed_quote`). :class:`CsvRecords` is the reader every CSV file an
exchange gives kinko is read with (customers, prices, address labels, a refund's trades, the
header of a trace's transfers), and the tables of a trace folder kinko reads back (its
addresses and exposure: a folder may come from another machine): the csv module, strict,
each refusal named at its file and line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

from kinko.domain.messages import Message, msg
from kinko.errors import InputFileError

__all__ = ["TRIGGERS", "CsvRecords", "RecordLines", "columns_said", "columns_text",
           "csv_writer", "escape_cell",
           "unclosed_quote", "unescape_cell", "unreadable_csv"]

TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")  # the last four full-width
_NUMBER = re.compile(r"-?[0-9][0-9,]*(?:\.[0-9]+)?")


def escape_cell(value: Any) -> Any:
    """``value`` safe to open in a spreadsheet (numbers and non-text pass unchanged)."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] == "'" or (value[0] in TRIGGERS and not _NUMBER.fullmatch(value)):
        return "'" + value
    return value


def unescape_cell(text: str) -> str:
    """The text :func:`escape_cell` was given (for kinko reading its own files)."""
    if len(text) > 1 and text[0] == "'" and (text[1] == "'" or text[1] in TRIGGERS):
        return text[1:]
    return text


class _SafeWriter:
    def __init__(self, fh: IO[str]) -> None:
        self._writer = csv.writer(fh, lineterminator="\n")
        # Python's writer leaves a bare carriage return unquoted when lines end in "\n",
        # and readers then end the line there: such a row is written with every cell quoted
        self._quoted = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        cells = [escape_cell(v) for v in row]
        carriage = any(isinstance(c, str) and "\r" in c for c in cells)
        (self._quoted if carriage else self._writer).writerow(cells)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(fh: IO[str]) -> _SafeWriter:
    """A ``csv.writer`` (lines end in ``\\n``) whose every cell goes through
    :func:`escape_cell`."""
    return _SafeWriter(fh)


def unreadable_csv(name: str, line: int, exc: csv.Error, **details: Any) -> InputFileError:
    """What a reader of CSV says of a file the csv module refuses (a field past its limit
    of 131,072 characters, a quote left open): the file and the line it stopped at, with
    the module's reason; ``details`` go with the error as they are."""
    return InputFileError(f"{name}:{line}: not readable as CSV ({exc})",
                          says=msg("error.labels.csv_unreadable", file=name[:200],
                                   line=str(line), reason=str(exc)[:200]), **details)


class RecordLines:
    """The lines a ``csv.reader`` reads (``csv.reader(source)``), those of the record it is
    reading kept in :attr:`kept`: the reader empties it before each record it asks for
    (``kept.clear()``), and when the csv module refuses that record, asks
    :meth:`quote_left_open` where its quoted field opened. The module reads no further than
    the record's last line, so :attr:`kept` holds that record's lines and no others."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.kept: list[str] = []
        self.ended = False  # every line given: a quote still open is open at the file's end
        self._lines = lines

    def __iter__(self) -> Iterator[str]:
        keep = self.kept.append
        for line in self._lines:
            keep(line)
            yield line
        self.ended = True

    def quote_left_open(self, first: int) -> int | None:
        """The number of the line on which a quoted field still open at the end of the
        kept lines began (``first``: the number of the first kept line), as the csv module
        reads the default dialect (a ``"`` opening a field, ``""`` a quote inside one); None
        when every quote opened there was closed."""
        opened: int | None = None
        quoted = closing = False
        start = True  # at the start of a field, where a quote opens a quoted field
        for number, line in enumerate(self.kept, first):
            for c in line:
                if quoted:
                    if not closing:
                        closing = c == '"'
                        continue
                    closing = False
                    if c == '"':  # "" inside a quoted field: a quote in the field
                        continue
                    quoted = start = False  # closed; c is read after the field's quote
                if c in ",\r\n":
                    start = True
                elif start and c == '"':
                    quoted, opened, start = True, number, False
                else:
                    start = False
        return opened if quoted and not closing else None


def unclosed_quote(where: str, exc: csv.Error | None = None) -> tuple[str, Message]:
    """What a reader of CSV says of a quoted field that opens at ``where`` (``file:line``)
    and is not closed: before the end of the file, or (``exc``, the csv module's refusal)
    before the most characters a field may hold. English, and as a catalog message."""
    if exc is None:
        return (f"{where}: unterminated quoted field: the double quote that opens it here is "
                "not closed before the end of the file",
                msg("error.csv.unclosed_quote", where=where[:220]))
    return (f"{where}: unterminated quoted field: the double quote that opens it here is not "
            f"closed within the {csv.field_size_limit():,} characters a field may hold "
            f"({exc})", msg("error.csv.unclosed_quote_limit", where=where[:220],
                             most=f"{csv.field_size_limit():,}", reason=str(exc)[:200]))


class CsvRecords:
    """The records of the CSV ``lines`` of the file ``name``, as ``csv.reader`` reads them
    (the default dialect) but strict: a quoted field whose closing quote is missing is not
    read as one running to the end of the file, and a field such as ``"XEM"x`` is not read
    as ``XEMx``; the csv module's refusal (``csv.Error``) is raised as it is, and
    :meth:`unclosed` or :meth:`refusal` say what it was, and where."""

    def __init__(self, lines: Iterable[str], name: str) -> None:
        self.name = name
        self._source = RecordLines(lines)
        self._reader = csv.reader(self._source, strict=True)
        self._first = 1  # the number of the first line of the record read last

    @property
    def line_num(self) -> int:
        """The number of the last line read (that of the record just read)."""
        return self._reader.line_num

    def __iter__(self) -> Iterator[list[str]]:
        return self

    def __next__(self) -> list[str]:
        self._first = self._reader.line_num + 1
        self._source.kept.clear()  # the lines of this record, and no other's
        return next(self._reader)

    def unclosed(self, exc: csv.Error) -> tuple[str, Message] | None:
        """What to say of ``exc``, the csv module's refusal of the record being read, when
        it is a quoted field left open (:func:`unclosed_quote`, on the line where the quote
        opens); None when it is another refusal."""
        opened = self._source.quote_left_open(self._first)
        if opened is None:
            return None
        return unclosed_quote(f"{self.name}:{opened}", None if self._source.ended else exc)

    def refusal(self, exc: csv.Error, **details: Any) -> InputFileError:
        """The error for ``exc``: an unterminated quoted field at the line its quote opens,
        or the file not readable as CSV at the line the module stopped
        (:func:`unreadable_csv`); ``details`` go with it as they are."""
        unclosed = self.unclosed(exc)
        if unclosed is None:
            return unreadable_csv(self.name, self.line_num, exc, **details)
        english, says = unclosed
        return InputFileError(english, says=says, **details)


# a header cell no export has: a run of hexadecimal digits as long as a key (a key file
# given where a CSV was expected is read as a header of one column: its key)
_KEYLIKE = re.compile(r"(?:0[xX])?[0-9a-fA-F]{32,}")


def columns_text(columns: Iterable[str]) -> str:
    """A header's column names as an error's English says them back (at most 200
    characters); none of them when one looks like a key (:data:`_KEYLIKE`)."""
    names = list(columns)
    if any(_KEYLIKE.fullmatch(n.strip()) for n in names):
        return f"{len(names)} column name(s), not shown: one is a long run of hexadecimal " \
               "digits, as a key file holds"
    return ", ".join(names)[:200] or "nothing"


def columns_said(columns: Iterable[str]) -> Message | str:
    """:func:`columns_text` for a catalog message."""
    names = list(columns)
    if any(_KEYLIKE.fullmatch(n.strip()) for n in names):
        return msg("error.columns_hidden", count=len(names))
    return ", ".join(names)[:200] or msg("error.customers.no_columns")

