"""A file as a DuckDB table, its values checked in SQL, every problem named as ``file:line``.

A format lists the columns it reads (:class:`_Field`); :func:`_open` reads a CSV (as text,
malformed records refused with their lines) or a Parquet file (typed) into a table with
``_row``, the record's number in the file, and :class:`_Input` maps record numbers back to
lines (the header is line 1; blank lines and quoted line breaks counted as in the file) or to
``row N`` for Parquet. :func:`_check` evaluates each field's conditions in one pass over the
rows and raises an :class:`~kinko.errors.InputFileError` listing at most
:data:`~kinko.chains.tracefiles.MAX_PROBLEMS` problems; the ``*_sql`` helpers give the SQL
expressions the formats build their standard view with (numbers, amounts, cents, addresses
and hashes normalised).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from kinko.chains.tracefiles._common import INT64_MAX, MAX_PROBLEMS, _ident, _lit
from kinko.domain.csvcells import CsvRecords, columns_said, columns_text
from kinko.domain.messages import Message, joined, msg
from kinko.domain.money import MAX_DIGITS
from kinko.errors import InputFileError
from kinko.safeload import bounded_lines, column_twice, first_bad_utf8

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}


# --- reading a file into DuckDB, with the line of every row ---------------------------------

@dataclass(frozen=True)
class _Field:
    """A column a format reads. ``kind``: text (non-empty), address (non-empty), int (a whole
    number ≥ 0 that fits int64), amount (a whole number ≥ 0 of at most
    :data:`~kinko.domain.money.MAX_DIGITS` digits: any uint256), usd (a decimal number ≥ 0),
    label (any text). Nullable fields may be empty."""

    key: str
    kind: str
    required: bool = True
    nullable: bool = False


class _Input:
    """One file as the DuckDB table or view ``table``: ``_row`` (the record's 0-based number in
    the file) and one column per field found, named by the field's key."""

    def __init__(self, path: Path, table: str, columns: dict[str, tuple[str, str]],
                 is_csv: bool) -> None:
        self.path = path
        self.name = str(path)
        self.table = table
        self.columns = columns  # key -> (header text, DuckDB type)
        self.is_csv = is_csv
        self.empty = False  # a 0-byte file: no rows
        self._lines: list[int] | None = None

    def has(self, key: str) -> bool:
        return key in self.columns

    def label(self, key: str) -> str:
        return self.columns[key][0]

    def type(self, key: str) -> str:
        return self.columns[key][1]

    def _numbers(self, rows: list[int]) -> dict[int, str]:
        if not self.is_csv:
            return {r: f"row {r + 1}" for r in rows}
        if rows and (self._lines is None or len(self._lines) <= max(rows)):
            self._lines = self._starts(max(rows))
        lines = self._lines or []
        return {r: str(lines[r]) if r < len(lines) else "?" for r in rows}

    def _starts(self, last: int) -> list[int]:
        """The line each record starts on, up to record ``last`` (as DuckDB reads them)."""
        return _record_lines(self.path, last)

    def where(self, rows: Iterable[int]) -> dict[int, str]:
        """``file:line`` of each record number (CSV; the header is line 1), ``file: row N``
        (Parquet: there are no lines)."""
        numbers = self._numbers(sorted(set(rows)))
        sep = ":" if self.is_csv else ": "
        return {r: f"{self.name}{sep}{n}" for r, n in numbers.items()}

    def said_at(self, row: int) -> Message:
        """``line N`` (or ``row N``) as a catalog message."""
        number = self._numbers([row])[row]
        if self.is_csv:
            return msg("error.tracefile.line", line=number)
        return msg("error.tracefile.row", row=number.removeprefix("row "))

    def said_where(self, row: int) -> Message | str:
        """``file:line`` (``file: row N``) of a record, as :meth:`where` gives it, for a
        catalog message (the file cut to 200 characters)."""
        number = self._numbers([row])[row]
        if self.is_csv:
            return f"{self.name[:200]}:{number}"
        return msg("error.tracefile.file_row", file=self.name[:200],
                   row=number.removeprefix("row "))

    def line(self, row: int) -> str:
        """``line N`` (or ``row N``), to refer to another record in a message."""
        number = self._numbers([row])[row]
        return f"line {number}" if self.is_csv else number


def _record_lines(path: Path, last: int) -> list[int]:
    """The line each data record starts on, up to record ``last``, as DuckDB counts records
    (blank lines skipped, quoted line breaks inside a record). Only for error messages."""
    starts: list[int] = []
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        previous = reader.line_num
        for record in reader:
            if record:
                starts.append(previous + 1)
                if len(starts) > last:
                    break
            previous = reader.line_num
    return starts


def _header(path: Path) -> list[str]:
    """The names of the CSV file's columns (its first record, read strictly: a quote left
    open there is an unterminated quoted field on line 1, not a header running on into the
    rows, which DuckDB then reads and names by their lines)."""
    records: CsvRecords | None = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            records = CsvRecords(bounded_lines(fh, str(path)), str(path))
            first = next(records, None)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}", file=str(path),
                             says=msg("error.file.cannot_read", file=str(path)[:200],
                                      reason=str(exc.strerror)[:200])) from None
    except UnicodeDecodeError as exc:  # found reading ahead: on the line it is on
        line = (first_bad_utf8(path) or (1, 0))[0]
        raise InputFileError(f"{path}:{line}: not UTF-8 text ({exc.reason})", file=str(path),
                             says=msg("error.customers.not_utf8",
                                      file=f"{str(path)[:200]}:{line}",
                                      reason=str(exc.reason)[:200])) from None
    except csv.Error as exc:
        unclosed = records.unclosed(exc) if records is not None else None
        if unclosed is not None:
            raise InputFileError(unclosed[0], file=str(path), says=unclosed[1]) from None
        raise InputFileError(f"{path}:1: {exc}", file=str(path),
                             says=msg("error.customers.header_unreadable", file=str(path)[:200],
                                      reason=str(exc)[:200])) from None
    if not first:
        raise InputFileError(f"{path}:1: the file is empty; expected a header line",
                             file=str(path),
                             says=msg("error.tracefile.empty_file", file=str(path)[:200]))
    return [h.strip() for h in first]


def _missing(name: str, where: str, fields: list[_Field], found: Iterable[str]) -> None:
    have = {f.lower() for f in found}
    missing = [f.key for f in fields if f.required and f.key not in have]
    if missing:
        raise InputFileError(
            f"{name}{where}: missing column(s) {', '.join(missing)} "
            f"(found: {columns_text(found)})", file=name,
            says=msg("error.tracefile.missing_columns", file=(name + where)[:200],
                     missing=", ".join(missing), found=columns_said(found)))


def _no_twice(name: str, where: str, fields: list[_Field], found: list[str]) -> None:
    """Refuse a file naming a column the format reads twice (names compared as the format
    reads them, ignoring case): which of the two holds the value would be a guess."""
    twice = column_twice([column.lower() for column in found], {f.key for f in fields})
    if twice is not None:
        raise InputFileError(f"{name}{where}: column {twice[0]} appears twice "
                             f"(columns {twice[1]} and {twice[2]})", file=name,
                             says=msg("error.tracefile.column_twice", file=(name + where)[:200],
                                      column=twice[0][:80], first=twice[1], second=twice[2]))


def _open_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str,
              fields: list[_Field]) -> _Input:
    """Read a CSV into ``table`` as text, refusing malformed records with their lines."""
    header = _header(path)
    _missing(str(path), ":1", fields, header)
    _no_twice(str(path), ":1", fields, header)
    position: dict[str, int] = {}
    for i, h in enumerate(header):
        position.setdefault(h.lower(), i)
    keys = {f.key for f in fields}
    chosen = {k: i for k, i in position.items() if k in keys}
    spec = ", ".join(f"{_lit(f'c{i}')}: 'VARCHAR'" for i in range(len(header)))
    select = ", ".join(f"c{i} AS {_ident(k)}" for k, i in chosen.items())
    try:
        con.execute(
            f"CREATE TABLE {table} AS SELECT row_number() OVER () - 1 AS _row, {select} "
            f"FROM read_csv({_lit(str(path))}, header = true, auto_detect = false, "
            f"delim = ',', quote = '\"', escape = '\"', columns = {{{spec}}}, "
            f"store_rejects = true, rejects_table = '{table}_rejects', "
            f"rejects_scan = '{table}_scan')")
    except duckdb.Error as exc:
        raise InputFileError(f"{path}: cannot read as CSV: {str(exc).splitlines()[0]}",
                             file=str(path),
                             says=msg("error.tracefile.not_csv", file=str(path)[:200],
                                      reason=str(exc).splitlines()[0][:200])) from None
    rejects = con.execute(
        f"SELECT line, error_type, error_message, csv_line FROM {table}_rejects "
        f"ORDER BY line LIMIT {MAX_PROBLEMS}").fetchall()
    if rejects:
        first = {int(r[0]): r for r in reversed(rejects)}  # one problem per line
        ordered = sorted(first.values())
        problems = [f"{path}:{line}: {_reject(str(kind), str(message), text, len(header))}"
                    for line, kind, message, text in ordered]
        said = [msg("error.tracefile.at", where=f"{str(path)[:200]}:{line}",
                    problem=_reject_said(str(kind), str(message), text, len(header)))
                for line, kind, message, text in ordered]
        line, kind, message, text = ordered[0]
        raise InputFileError(f"{path}: {len(problems)} malformed record(s)",
                             problems=problems, problems_said=said, file=str(path),
                             says=msg("error.tracefile.malformed", file=str(path)[:200],
                                      count=len(problems), first=msg(
                                          "error.tracefile.at",
                                          where=msg("error.tracefile.line", line=str(line)),
                                          problem=_reject_said(str(kind), str(message), text,
                                                               len(header)))))
    columns = {k: (header[i], "VARCHAR") for k, i in chosen.items()}
    return _Input(path, table, columns, is_csv=True)


def _reject(kind: str, message: str, text: str | None, columns: int) -> str:
    if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS") and text is not None:
        found = len(next(csv.reader([text.strip("\r\n")]), []))
        return f"expected {columns} fields, found {found}"
    return f"{kind.lower()}: {message}"


def _reject_said(kind: str, message: str, text: str | None, columns: int) -> Message:
    """:func:`_reject` as a catalog message."""
    if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS") and text is not None:
        found = len(next(csv.reader([text.strip("\r\n")]), []))
        return msg("error.tracefile.fields", expected=columns, found=found)
    return msg("error.tracefile.reject", kind=kind.lower()[:80], message=message[:200])


def _open_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str,
                  fields: list[_Field]) -> _Input:
    source = f"read_parquet({_lit(str(path))}, file_row_number = true)"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as exc:
        raise InputFileError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}",
                             file=str(path),
                             says=msg("error.tracefile.not_parquet", file=str(path)[:200],
                                      reason=str(exc).splitlines()[0][:200])) from None
    names = [str(d[0]) for d in described if d[0] != "file_row_number"]
    _missing(str(path), "", fields, names)
    schema = _parquet_schema(path)
    _no_twice(str(path), "", fields, list(schema.names) if schema is not None else names)
    # a decimal wider than 38 digits is read by DuckDB only as a DOUBLE (inexactly): it is
    # named by its type in the file, which is then refused as no whole numbers
    wide = {} if schema is None else {
        f.name.lower(): str(f.type) for f in schema
        if pa.types.is_decimal(f.type) and f.type.precision > 38}
    types = {str(d[0]).lower(): (str(d[0]), wide.get(str(d[0]).lower(), str(d[1])))
             for d in reversed(described)}
    keys = {f.key for f in fields}
    columns = {k: v for k, v in types.items() if k in keys}
    select = ", ".join(f"{_ident(n)} AS {_ident(k)}" for k, (n, _) in columns.items())
    con.execute(f"CREATE VIEW {table} AS SELECT file_row_number AS _row, {select} FROM {source}")
    return _Input(path, table, columns, is_csv=False)


def _parquet_schema(path: Path) -> pa.Schema | None:
    """The file's schema as it is written: its top-level column names (DuckDB renames a
    second ``value`` or ``Value`` to ``Value_1``, which would hide it) and their types; None
    when it cannot be read apart (DuckDB has read the file)."""
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError):
        return None


def _open(con: duckdb.DuckDBPyConnection, path: Path, table: str, fields: list[_Field],
          parquet: bool = False) -> _Input:
    if not path.is_file():
        if path.exists():  # a pipe, a folder, a device: a transfers file is read twice
            raise InputFileError(f"{path}: cannot read: not a regular file", file=str(path),
                                 says=msg("error.not_a_regular_file", file=str(path)[:200]))
        raise InputFileError(f"{path}: no such file", file=str(path),
                             says=msg("error.tracefile.no_such_file", file=str(path)[:200]))
    if path.stat().st_size == 0:
        return _open_empty(con, path, table, fields, parquet)
    return (_open_parquet if parquet else _open_csv)(con, path, table, fields)


def _open_empty(con: duckdb.DuckDBPyConnection, path: Path, table: str, fields: list[_Field],
                parquet: bool) -> _Input:
    """A 0-byte file (what exporters such as ethereum-etl write when a range holds no rows):
    an input with the format's columns and no rows."""
    columns = {f.key: (f.key, "VARCHAR") for f in fields if f.required}
    select = ", ".join(["CAST(NULL AS BIGINT) AS _row",
                        *(f"CAST(NULL AS VARCHAR) AS {_ident(k)}" for k in columns)])
    con.execute(f"CREATE TABLE {table} AS SELECT {select} WHERE false")
    inp = _Input(path, table, columns, is_csv=not parquet)
    inp.empty = True
    return inp


# --- checking values in SQL ------------------------------------------------------------------

def _conditions(inp: _Input, field: _Field) -> list[tuple[str, str]]:
    """(condition, message) in SQL: the field's value in a row is wrong when a condition holds,
    and the first that holds says what is wrong. Cheap on the happy path (no string is
    trimmed unless it starts with a space), as the row pass evaluates them on every row."""
    col, label, dtype = _ident(field.key), inp.label(field.key), inp.type(field.key)
    lab = _lit(label)
    empty = (f"CASE WHEN {col} IS NULL OR {col} = '' THEN true WHEN {col} < '!' "
             f"THEN trim({col}) = '' ELSE false END" if dtype == "VARCHAR"
             else f"{col} IS NULL")
    if field.kind == "label" or (field.kind in ("text", "address") and field.nullable):
        return []
    if field.kind in ("text", "address"):
        return [(empty, f"{lab} || ' is empty'")]
    found = [] if field.nullable else [(empty, f"{lab} || ' is empty'")]
    if dtype == "VARCHAR":
        s = f"nullif(trim({col}), '')"
        digits = r"[0-9]+(\.[0-9]*)?|\.[0-9]+" if field.kind == "usd" else "[0-9]+"
        what = "a decimal number" if field.kind == "usd" else "a whole number"
        found += [(f"regexp_full_match({s}, '-({digits})')", f"{lab} || ' is negative: ' || {s}"),
                  (f"NOT regexp_full_match({s}, '{digits}')",
                   f"{lab} || ' is not {what}: ' || left({s}, 80)")]
        if field.kind == "int":
            found.append((f"{s} IS NOT NULL AND TRY_CAST({s} AS BIGINT) IS NULL",
                          f"{lab} || ' is too large: ' || {s}"))
        if field.kind == "amount":
            found.append((f"length(ltrim({s}, '0')) > {MAX_DIGITS}",
                          f"{lab} || ' is too large: ' || left({s}, 80) || '... ('"
                          f" || length({s}) || ' digits; at most {MAX_DIGITS})'"))
        if field.kind == "usd":
            found.append((f"length(split_part({s}, '.', 1)) > 30",
                          f"{lab} || ' is too large: ' || {s}"))
        return found
    if dtype in _INTEGER_TYPES or dtype.startswith("DECIMAL"):
        shown = f"CAST({col} AS VARCHAR)"
        found.append((f"{col} < 0", f"{lab} || ' is negative: ' || {shown}"))
        if dtype.startswith("DECIMAL") and field.kind != "usd":
            found.append((f"{col} <> trunc({col})", f"{lab} || ' is not a whole number: ' || "
                                                     f"{shown}"))
        if field.kind == "int" and dtype not in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT",
                                                 "UTINYINT", "USMALLINT", "UINTEGER"):
            found.append((f"{col} > {INT64_MAX}", f"{lab} || ' is too large: ' || {shown}"))
        return found
    raise InputFileError(
        f"{inp.name}: column {label} has type {dtype}; expected whole numbers "
        "(integers, decimal(38,0) or text)", file=inp.name,
        says=msg("error.tracefile.column_type", file=inp.name[:200], column=label[:80],
                 type=dtype[:80]))


def _problem_sql(inp: _Input, field: _Field) -> str | None:
    """A SQL expression: NULL when the field's value in a row is right, else what is wrong."""
    found = _conditions(inp, field)
    if not found:
        return None
    return "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, m in found) + " END"


def _check(con: duckdb.DuckDBPyConnection, inp: _Input, fields: list[_Field]) -> None:
    """Raise an :class:`InputFileError` listing the rows whose values are wrong."""
    parts = [p for f in fields if inp.has(f.key) and (p := _problem_sql(inp, f)) is not None]
    if not parts:
        return
    any_wrong = " OR ".join(f"({p}) IS NOT NULL" for p in parts)
    rows = con.execute(
        f"SELECT _row, concat_ws('; ', {', '.join(parts)}) FROM {inp.table} "
        f"WHERE {any_wrong} ORDER BY _row LIMIT {MAX_PROBLEMS}").fetchall()
    said = _rows_said(con, inp, fields, [int(r) for r, _m in rows])
    _raise(inp, [(int(r), str(m), said[int(r)]) for r, m in rows])


def _rules(inp: _Input, field: _Field) -> list[tuple[str, str, str]]:
    """(condition, catalog id, SQL of the value shown) in the order of :func:`_conditions`
    (none when they do not line up: the English problems are said then, not this)."""
    col, dtype = _ident(field.key), inp.type(field.key)
    found = _conditions(inp, field)
    if field.kind in ("text", "address", "label"):
        ids = ["empty"] * len(found)
    else:
        ids = [] if field.nullable else ["empty"]
        ids.append("negative")
        if dtype == "VARCHAR":
            ids.append("not_decimal" if field.kind == "usd" else "not_whole")
        elif dtype.startswith("DECIMAL") and field.kind != "usd":
            ids.append("not_whole")
        ids += ["too_many_digits" if field.kind == "amount" and dtype == "VARCHAR"
                else "too_large"] * (len(found) - len(ids))
    if len(ids) != len(found):
        return []
    shown = (f"left(nullif(trim({col}), ''), 80)" if dtype == "VARCHAR"
             else f"left(CAST({col} AS VARCHAR), 80)")
    return [(c, f"error.tracefile.value.{i}", shown) for (c, _m), i in zip(found, ids, strict=True)]


def _rows_said(con: duckdb.DuckDBPyConnection, inp: _Input, fields: list[_Field],
               rows: list[int]) -> dict[int, Message]:
    """What is wrong in each record of ``rows``, as catalog messages, as :func:`_check`
    words it: the first wrong condition of each field, the fields in order (``a; b``)."""
    if not rows:
        return {}
    rules = [(f, c, i, s) for f in fields if inp.has(f.key) for c, i, s in _rules(inp, f)]
    picked = "".join(f", coalesce({c}, false), {s}, length(trim(CAST({_ident(f.key)} AS "
                     "VARCHAR)))" for f, c, _i, s in rules)
    found = con.execute(f"SELECT _row{picked} FROM {inp.table} "
                        f"WHERE _row IN ({', '.join(str(int(r)) for r in rows)})").fetchall()
    by_row = {int(r[0]): r[1:] for r in found}
    out: dict[int, Message] = {}
    for row in rows:
        values = by_row.get(row) or ()
        wrong: list[Message] = []
        done: set[str] = set()  # the fields whose first wrong condition is said
        for n, (field, _c, id_, _s) in enumerate(rules):
            if field.key in done or not values or not values[3 * n]:
                continue
            done.add(field.key)
            wrong.append(_said_value(id_, inp.label(field.key)[:80],
                                     str(values[3 * n + 1] or "")[:80],
                                     int(values[3 * n + 2] or 0)))
        out[row] = (joined(wrong) if wrong
                    else msg("error.tracefile.values_wrong", file=inp.name[:200]))
    return out


def _said_value(id_: str, column: str, value: str, digits: int) -> Message:
    """A wrong value (a catalog id of :func:`_rules`) as its catalog message."""
    if id_.endswith(".empty"):
        return msg(id_, column=column)
    if id_.endswith(".too_many_digits"):
        return msg(id_, column=column, value=value, digits=digits, most=MAX_DIGITS)
    return msg(id_, column=column, value=value)


def _raise(inp: _Input, problems: list[tuple[int, str, Message]]) -> None:
    """Refuse the file for ``problems`` (record number, what is wrong, the same as a catalog
    message), each named ``file:line`` in English and as a catalog message."""
    if not problems:
        return
    problems = sorted(problems, key=lambda p: (p[0], p[1]))[:MAX_PROBLEMS]
    where = inp.where(r for r, _m, _s in problems)
    texts = [f"{where[r]}: {m}" for r, m, _s in problems]
    said = [msg("error.tracefile.at", where=inp.said_where(r), problem=s)
            for r, _m, s in problems]
    count = f"{len(texts)}{'+' if len(texts) >= MAX_PROBLEMS else ''}"
    row, _m, problem = problems[0]
    says = msg("error.tracefile.problems", file=inp.name[:200], count=count,
               first=msg("error.tracefile.at", where=inp.said_at(row), problem=problem))
    raise InputFileError(f"{inp.name}: {count} problem(s); nothing was loaded",
                         problems=texts, problems_said=said, file=inp.name, says=says)


def _bad_sql(inp: _Input, fields: list[_Field]) -> str:
    """A SQL condition: some value of the row is wrong (:func:`_check` tells which)."""
    found = [c for f in fields if inp.has(f.key) for c, _ in _conditions(inp, f)]
    return f"coalesce({' OR '.join(f'({c})' for c in found)}, false)" if found else "false"


def _normal_sql(expr: str, pattern: str) -> str:
    """Trimmed; lower-cased when it is an Ethereum hex address (or hash)."""
    e = f"trim(CAST({expr} AS VARCHAR))"
    return f"CASE WHEN regexp_full_match({e}, '{pattern}') THEN lower({e}) ELSE {e} END"


def _int_sql(inp: _Input, key: str, alias: str = "") -> str:
    if not inp.has(key):
        return "CAST(0 AS BIGINT)"
    col = alias + _ident(key)
    if inp.type(key) == "VARCHAR":
        return f"TRY_CAST(trim({col}) AS BIGINT)"
    return f"TRY_CAST({col} AS BIGINT)"


def _amount_sql(inp: _Input, key: str, alias: str = "") -> str:
    """The amount: BIGINT from a narrow integer column, else its digits (VARCHAR)."""
    if not inp.has(key):
        return "CAST(0 AS BIGINT)"
    col, dtype = alias + _ident(key), inp.type(key)
    if dtype == "VARCHAR":
        return f"nullif(trim({col}), '')"
    if dtype in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                 "UINTEGER"):
        return f"CAST({col} AS BIGINT)"
    return f"CAST(TRY_CAST({col} AS HUGEINT) AS VARCHAR)"


def _usd_cents_sql(col: str) -> str:
    """Dollars as text → cents, digit by digit, rounded half up on the third decimal."""
    s = f"trim({col})"
    whole = f"coalesce(nullif(split_part({s}, '.', 1), ''), '0')"
    frac = f"split_part({s}, '.', 2)"
    return (f"CAST(TRY_CAST({whole} AS HUGEINT) * 100 + TRY_CAST(rpad(left({frac}, 2), 2, '0')"
            f" AS INTEGER) + CASE WHEN substr({frac}, 3, 1) >= '5' THEN 1 ELSE 0 END AS VARCHAR)")
