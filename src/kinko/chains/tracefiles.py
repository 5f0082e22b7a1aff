"""Transfers from files into the trace arrays, the part a trace can reach, a synthetic chain.

A trace (:mod:`kinko.domain.trace.model`) runs over flat integer arrays: transfers in
processing order (block, tx_index, log_index), addresses factorised to ids ``0..n-1``, amounts
as integers in the asset's minor unit. This module makes those arrays from the files people
have, refusing what it cannot read exactly with ``file:line: what is wrong`` (an
:class:`~kinko.errors.InputFileError` listing every problem, never a traceback):

``csv`` / ``parquet``
    ``tx_hash,block,tx_index,log_index,from,to,value,fee`` (``log_index`` and ``fee`` may be
    absent: 0; ``timestamp`` and ``asset`` optional), **sorted** by (block, tx_index,
    log_index): a row out of order or at the position of the row before is refused. Amounts
    are whole numbers of any size (text, int64 or decimal(38,0) in Parquet; never floats).
``ethereum-etl``
    an export of ethereum-etl: its ``transactions.csv`` (``hash, block_number,
    transaction_index, from_address, to_address, value``; the fee is ``receipt_gas_used`` ×
    ``receipt_effective_gas_price`` (else ``gas_price``) when the export is enriched, or from a
    ``receipts.csv`` beside it, else 0; a failed transaction moves no value but pays its fee;
    a contract creation pays the created contract) or its ``token_transfers.csv``
    (``token_address, from_address, to_address, value, transaction_hash, log_index,
    block_number``: one token, chosen with ``asset=`` when the file holds several; fee 0;
    ``log_index`` counts within the block, so it orders the block; ``tx_index`` is the
    ``transaction_index`` of a ``transactions.csv`` beside it, else the transaction's rank in
    the block). A file, or the export folder. Rows may come in any order; they are sorted.
``mftracer``
    the ground truth of ``shared/data/mftracer/*/transfers.csv`` (``Timestamp, Block, Tx_hash,
    From, From_label, To, To_label, Value_in_USD``): USD amounts become cents, read digit by
    digit and rounded half up (``347.55300000000005`` → 34755); within a block transactions are
    ordered by hash, and a transaction's rows so that a payment into an address comes before
    the payment out of it (the file lists a transaction's hops in no fixed order).
    :func:`mftracer_labels` gives the labels.
``utxo-jsonl`` (:func:`load_utxo`)
    one transaction per line ``{"txid", "block", "inputs": [{"txid", "vout", "value",
    "address"}], "outputs": [{"value", "address"}], "fee"}`` in block order; each input is
    resolved to the global index of the output it spends when that output is in the file
    (else -1: clean money from outside the data), and must agree with it.

Ethereum hex addresses (and transaction hashes) are lower-cased; any other address is kept
exactly. Amount arrays are ``int64`` when every amount, and the sum of all of them, fits
(balances cannot overflow then), else ``object`` arrays of Python ints (wei beyond 2⁶³).
Problems name the line (the header is line 1; blank lines and quoted line breaks counted as
in the file), or the row for Parquet (``file: row N``), at most :data:`MAX_PROBLEMS` of them.
Files are read by DuckDB and no string crosses into Python per row except the transaction
hashes (``with_hashes=False`` skips them too: 50M Python strings would not fit in memory).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "t.csv").write_text(
    ...     "tx_hash,block,tx_index,from,to,value\\n"
    ...     "0xa,1,0,0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,bob,30000000000000000000\\n")
    >>> t = load_account(folder / "t.csv", "csv")
    >>> list(t.addresses), t.value.dtype, t.value[0]
    (['0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'bob'], dtype('O'), 30000000000000000000)

:func:`reduce_reachable` keeps only the transfers a trace can need (see its docstring for why
the result is exact), with SQL that DuckDB runs here and a distributed engine could run later.
:func:`synth_account` makes a reproducible heavy-tailed chain for benchmarks
(:func:`write_synth_parquet` streams one of any size to a file).
"""

from __future__ import annotations

import csv
import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from kinko.domain.trace.model import AccountSeeds, AccountTransfers, UtxoTransactions
from kinko.errors import InputFileError

__all__ = [
    "ACCOUNT_FORMATS",
    "load_account",
    "load_utxo",
    "mftracer_labels",
    "reduce_reachable",
    "reduce_seeds",
    "synth_account",
    "write_parquet",
    "write_synth_parquet",
]

ACCOUNT_FORMATS = ("csv", "parquet", "ethereum-etl", "mftracer")

Ints = npt.NDArray[np.int64]
Amounts = npt.NDArray[np.int64] | npt.NDArray[np.object_]

MAX_PROBLEMS = 20
MOST = 0.9  # reduce_reachable returns the whole chain when it would keep this share or more
INT64_MAX = 2**63 - 1
_ETH_ADDRESS = "0[xX][0-9a-fA-F]{40}"
_ETH_HASH = "0[xX][0-9a-fA-F]{64}"
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}


# --- reading a file into DuckDB, with the line of every row ---------------------------------

@dataclass(frozen=True)
class _Field:
    """A column a format reads. ``kind``: text (non-empty), address (non-empty), int (a whole
    number ≥ 0 that fits int64), amount (a whole number ≥ 0 of any size), usd (a decimal
    number ≥ 0), label (any text). Nullable fields may be empty."""

    key: str
    kind: str
    required: bool = True
    nullable: bool = False


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(key: str) -> str:
    return '"' + key.replace('"', '""') + '"'


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
            self._lines = _record_lines(self.path, max(rows))
        lines = self._lines or []
        return {r: str(lines[r]) if r < len(lines) else "?" for r in rows}

    def where(self, rows: Iterable[int]) -> dict[int, str]:
        """``file:line`` of each record number (CSV; the header is line 1), ``file: row N``
        (Parquet: there are no lines)."""
        numbers = self._numbers(sorted(set(rows)))
        sep = ":" if self.is_csv else ": "
        return {r: f"{self.name}{sep}{n}" for r, n in numbers.items()}

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
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            first = next(csv.reader(fh), None)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}:1: not UTF-8 text ({exc.reason})", file=str(path)) from None
    except csv.Error as exc:
        raise InputFileError(f"{path}:1: {exc}", file=str(path)) from None
    if not first:
        raise InputFileError(f"{path}:1: the file is empty; expected a header line",
                             file=str(path))
    return [h.strip() for h in first]


def _missing(name: str, where: str, fields: list[_Field], found: Iterable[str]) -> None:
    have = {f.lower() for f in found}
    missing = [f.key for f in fields if f.required and f.key not in have]
    if missing:
        raise InputFileError(
            f"{name}{where}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(found) or 'nothing'})", file=name)


def _open_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str,
              fields: list[_Field]) -> _Input:
    """Read a CSV into ``table`` as text, refusing malformed records with their lines."""
    header = _header(path)
    _missing(str(path), ":1", fields, header)
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
                             file=str(path)) from None
    rejects = con.execute(
        f"SELECT line, error_type, error_message, csv_line FROM {table}_rejects "
        f"ORDER BY line LIMIT {MAX_PROBLEMS}").fetchall()
    if rejects:
        first = {int(r[0]): r for r in reversed(rejects)}  # one problem per line
        problems = [f"{path}:{line}: {_reject(str(kind), str(message), text, len(header))}"
                    for line, kind, message, text in sorted(first.values())]
        raise InputFileError(f"{path}: {len(problems)} malformed record(s)",
                             problems=problems, file=str(path))
    columns = {k: (header[i], "VARCHAR") for k, i in chosen.items()}
    return _Input(path, table, columns, is_csv=True)


def _reject(kind: str, message: str, text: str | None, columns: int) -> str:
    if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS") and text is not None:
        found = len(next(csv.reader([text]), []))
        return f"expected {columns} fields, found {found}"
    return f"{kind.lower()}: {message}"


def _open_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str,
                  fields: list[_Field]) -> _Input:
    source = f"read_parquet({_lit(str(path))}, file_row_number = true)"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as exc:
        raise InputFileError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}",
                             file=str(path)) from None
    names = [str(d[0]) for d in described if d[0] != "file_row_number"]
    _missing(str(path), "", fields, names)
    types = {str(d[0]).lower(): (str(d[0]), str(d[1])) for d in reversed(described)}
    keys = {f.key for f in fields}
    columns = {k: v for k, v in types.items() if k in keys}
    select = ", ".join(f"{_ident(n)} AS {_ident(k)}" for k, (n, _) in columns.items())
    con.execute(f"CREATE VIEW {table} AS SELECT file_row_number AS _row, {select} FROM {source}")
    return _Input(path, table, columns, is_csv=False)


def _open(con: duckdb.DuckDBPyConnection, path: Path, table: str, fields: list[_Field],
          parquet: bool = False) -> _Input:
    if not path.is_file():
        raise InputFileError(f"{path}: no such file", file=str(path))
    return (_open_parquet if parquet else _open_csv)(con, path, table, fields)


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
        "(integers, decimal(38,0) or text)", file=inp.name)


def _problem_sql(inp: _Input, field: _Field) -> str | None:
    """A SQL expression: NULL when the field's value in a row is right, else what is wrong."""
    found = _conditions(inp, field)
    if not found:
        return None
    return "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, m in found) + " END"


def _check(con: duckdb.DuckDBPyConnection, inp: _Input, fields: list[_Field],
           extra: list[tuple[int, str]] | None = None) -> None:
    """Raise an :class:`InputFileError` listing the rows whose values are wrong."""
    parts = [p for f in fields if inp.has(f.key) and (p := _problem_sql(inp, f)) is not None]
    problems = list(extra or [])
    if parts:
        any_wrong = " OR ".join(f"({p}) IS NOT NULL" for p in parts)
        rows = con.execute(
            f"SELECT _row, concat_ws('; ', {', '.join(parts)}) FROM {inp.table} "
            f"WHERE {any_wrong} ORDER BY _row LIMIT {MAX_PROBLEMS}").fetchall()
        problems += [(int(r), str(m)) for r, m in rows]
    _raise(inp, problems)


def _raise(inp: _Input, problems: list[tuple[int, str]], what: str = "") -> None:
    if not problems:
        return
    problems = sorted(problems)[:MAX_PROBLEMS]
    where = inp.where(r for r, _ in problems)
    texts = [f"{where[r]}: {m}" for r, m in problems]
    raise InputFileError(f"{inp.name}: {len(texts)}{'+' if len(texts) >= MAX_PROBLEMS else ''} "
                         f"problem(s){what}; nothing was loaded", problems=texts, file=inp.name)


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


# --- from the standard view to the arrays -----------------------------------------------------
#
# Each format defines the view ``std`` over its input: ``_row``, ``_bad`` (a value of the row is
# wrong), ``_keep`` (the row is of the chosen asset), ``tx_hash``, ``block``, ``tx_index``,
# ``log_index``, ``src``, ``dst`` (text as in the file), ``value``, ``fee`` (BIGINT or digits).
# Strings never cross into Python per row: the row pass returns integers and 64-bit hashes of
# the strings; the distinct addresses are normalised and numbered once, and each row's hash is
# looked up among theirs (exactly: when two distinct addresses share a hash, DuckDB joins on
# the text instead).

@dataclass
class _Rows:
    """The kept rows in processing order, as numpy arrays."""

    row: Ints
    block: Ints
    tx_index: Ints
    log_index: Ints
    tx_key: npt.NDArray[np.uint64]  # hash of the transaction hash as in the file
    src: Ints
    dst: Ints

    def take(self, order: Ints) -> None:
        for name in ("row", "block", "tx_index", "log_index", "tx_key", "src", "dst"):
            setattr(self, name, getattr(self, name)[order])


def _load_std(con: duckdb.DuckDBPyConnection, inp: _Input, fields: list[_Field], *,
              presorted: bool, hashes: bool, causal: bool = False) -> AccountTransfers:
    """Check, fetch, order, factorise: the standard view ``std`` as :class:`AccountTransfers`.

    Columns are fetched a few at a time and turned into numpy arrays at once, so memory holds
    the arrays plus one query's result, not every column twice."""
    first = _fetch(con, "_bad, block, tx_index, log_index", "_keep OR _bad")
    if pc.any(first["_bad"]).as_py():
        _check(con, inp, fields)
        raise InputFileError(f"{inp.name}: some values are wrong", file=inp.name)
    row, block, tx_index, log_index = (_ints(first[c]) for c in
                                       ("_row", "block", "tx_index", "log_index"))
    del first
    (src, dst), addresses = _address_ids(con)
    tx_key = np.asarray(_fetch(con, "hash(tx_hash) AS h")["h"].to_numpy(), dtype=np.uint64)
    rows = _Rows(row=row, block=block, tx_index=tx_index, log_index=log_index, tx_key=tx_key,
                 src=src, dst=dst)
    del row, block, tx_index, log_index, tx_key, src, dst
    if causal:
        rows.log_index = _causal_log_index(rows)
    position: Ints | None = None
    if presorted:
        _check_sorted(inp, rows)
    else:
        position = np.lexsort((rows.log_index, rows.tx_index, rows.block))
        rows.take(position)
    text = _TxHashes(con, position if hashes else None, hashes)
    _check_unique(inp, rows, text)
    value, fee = _amount_arrays(con, position)
    return AccountTransfers(
        src=rows.src, dst=rows.dst, value=value, fee=fee, block=rows.block,
        tx_index=rows.tx_index, log_index=rows.log_index,
        tx_hash=text.all() if hashes else np.full(len(rows.row), "", dtype=object),
        addresses=addresses)


def _fetch(con: duckdb.DuckDBPyConnection, columns: str, where: str = "_keep") -> pa.Table:
    """``_row`` and ``columns`` of the rows of ``std`` (kept ones), in file order."""
    return _in_row_order(_arrow(con, f"SELECT _row, {columns} FROM std WHERE {where}"))


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    relation = con.sql(sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return cast(pa.Table, fetch())


def _in_row_order(table: pa.Table) -> pa.Table:
    """``table`` sorted by ``_row`` (as DuckDB returns it, unless a join moved rows)."""
    row = _ints(table["_row"])
    if bool(np.all(row[1:] > row[:-1])):
        return table
    return table.take(pa.array(np.argsort(row, kind="stable")))


def _ints(column: pa.ChunkedArray | pa.Array) -> Ints:
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _address_ids(con: duckdb.DuckDBPyConnection
                 ) -> tuple[tuple[Ints, Ints], npt.NDArray[np.object_]]:
    """Ids of the senders and receivers of the kept rows (file order), and the addresses by
    id (sorted by text; Ethereum hex addresses lower-cased: two spellings are one address)."""
    distinct = _arrow(con, f"SELECT x, hash(x) AS h, {_normal_sql('x', _ETH_ADDRESS)} AS a "
                           "FROM (SELECT DISTINCT x FROM (SELECT src AS x FROM std WHERE _keep "
                           "UNION ALL SELECT dst FROM std WHERE _keep)) ORDER BY a, x")
    names = np.asarray(distinct["a"].to_numpy(zero_copy_only=False), dtype=object)
    new = np.r_[True, names[1:] != names[:-1]] if len(names) else np.zeros(0, dtype=bool)
    id_of = np.cumsum(new, dtype=np.int64) - 1
    addresses = names[new]
    keys = distinct["h"].combine_chunks()
    if _distinct(keys):
        table = _fetch(con, "hash(src) AS hs, hash(dst) AS hd")
        return tuple(  # type: ignore[return-value]
            id_of[_ints(pc.index_in(table[c], value_set=keys))] for c in ("hs", "hd")
        ), addresses
    # two addresses with one 64-bit hash: join on the text (rows in _row order, as table's)
    con.register("address_ids", pa.table({"x": distinct["x"], "id": id_of}))
    joined = _arrow(con, "SELECT s.id AS s, d.id AS d FROM std JOIN address_ids s ON "
                         "std.src = s.x JOIN address_ids d ON std.dst = d.x WHERE _keep "
                         "ORDER BY std._row")
    return (_ints(joined["s"]), _ints(joined["d"])), addresses


def _distinct(keys: pa.Array) -> bool:
    return len(pc.unique(keys)) == len(keys)


class _TxHashes:
    """Transaction hashes, trimmed and lower-cased when hex, read from ``std`` when needed:
    all of them (``order`` given: the processing order of the kept rows) or a few rows."""

    def __init__(self, con: duckdb.DuckDBPyConnection, order: Ints | None, load: bool) -> None:
        self.con = con
        self.values: npt.NDArray[np.object_] | None = None
        if load:
            column = _fetch(con, "tx_hash")["tx_hash"]
            trimmed = pc.utf8_trim_whitespace(column)
            lowered = pc.utf8_lower(trimmed)
            if not pc.all(pc.equal(lowered, trimmed)).as_py():
                hexy = pc.match_substring_regex(trimmed, f"^{_ETH_HASH}$")
                trimmed = pc.if_else(hexy, lowered, trimmed)
            values = np.asarray(trimmed.to_numpy(zero_copy_only=False), dtype=object)
            self.values = values if order is None else values[order]

    def all(self) -> npt.NDArray[np.object_]:
        assert self.values is not None
        return self.values

    def at(self, positions: Iterable[int], rows: Ints) -> dict[int, str]:
        """position (in processing order) → hash."""
        wanted = sorted(set(positions))
        if self.values is not None:
            return {p: str(self.values[p]) for p in wanted}
        if not wanted:
            return {}
        by_row = {int(rows[p]): p for p in wanted}
        found = self.con.execute(
            f"SELECT _row, {_normal_sql('tx_hash', _ETH_HASH)} FROM std "
            f"WHERE _row IN ({', '.join(map(str, by_row))})").fetchall()
        return {by_row[int(r)]: str(h) for r, h in found}


def _amount_arrays(con: duckdb.DuckDBPyConnection, order: Ints | None
                   ) -> tuple[Amounts, Amounts]:
    """Values and fees in processing order: int64 when every amount and their total fit."""
    table = _fetch(con, "TRY_CAST(value AS BIGINT) AS v, TRY_CAST(fee AS BIGINT) AS f, "
                        "(value IS NOT NULL AND v IS NULL) OR (fee IS NOT NULL AND f IS NULL) "
                        "AS big")
    found: list[Amounts] = []
    if not pc.any(table["big"]).as_py():
        value, fee = _ints(table["v"].fill_null(0)), _ints(table["f"].fill_null(0))
        if _exact_sum(value) + _exact_sum(fee) <= INT64_MAX:
            found = [value, fee]
    del table
    if not found:
        digits = _fetch(con, "CAST(value AS VARCHAR) AS value, CAST(fee AS VARCHAR) AS fee")
        found = [np.fromiter((int(s) for s in digits[c].to_pylist()), dtype=object,
                             count=digits.num_rows) for c in ("value", "fee")]
    if order is not None:
        found = [a[order] for a in found]
    return found[0], found[1]


def _exact_sum(values: Ints) -> int:
    """The sum of non-negative int64 values, exactly (in two halves that cannot overflow)."""
    return (int(np.sum(values >> 32)) << 32) + int(np.sum(values & 0xFFFFFFFF))


def _check_sorted(inp: _Input, rows: _Rows) -> None:
    block, txi, logi = rows.block, rows.tx_index, rows.log_index
    wrong: list[int] = []  # i where row i + 1 is not after row i
    for a in range(0, len(block) - 1, SYNTH_CHUNK):  # in slices: three diffs of 50M are 1.2 GB
        z = min(len(block), a + SYNTH_CHUNK + 1)
        db, dt, dl = np.diff(block[a:z]), np.diff(txi[a:z]), np.diff(logi[a:z])
        bad = (db < 0) | ((db == 0) & ((dt < 0) | ((dt == 0) & (dl <= 0))))
        wrong += [a + int(i) for i in np.flatnonzero(bad)[:MAX_PROBLEMS - len(wrong)]]
        if len(wrong) >= MAX_PROBLEMS:
            break
    problems: list[tuple[int, str]] = []
    for i in wrong:
        j = i + 1
        other = inp.line(int(rows.row[i]))
        if (block[i], txi[i], logi[i]) == (block[j], txi[j], logi[j]):
            problems.append((int(rows.row[j]), f"duplicate: block {block[j]}, tx_index "
                             f"{txi[j]}, log_index {logi[j]} again (first on {other})"))
        else:
            problems.append((int(rows.row[j]), f"out of order: block {block[j]}, tx_index "
                             f"{txi[j]}, log_index {logi[j]} comes after block {block[i]}, "
                             f"tx_index {txi[i]}, log_index {logi[i]} on {other}; sort the "
                             "file by (block, tx_index, log_index)"))
    _raise(inp, problems)


def _check_unique(inp: _Input, rows: _Rows, text: _TxHashes) -> None:
    """In processing order: no two rows at one position, one transaction per (block,
    tx_index), and each transaction at one (block, tx_index)."""
    n = len(rows.row)
    if n < 2:
        return
    problems: list[tuple[int, str]] = []
    same_tx = (rows.block[1:] == rows.block[:-1]) & (rows.tx_index[1:] == rows.tx_index[:-1])
    same = same_tx & (rows.log_index[1:] == rows.log_index[:-1])
    for i in np.flatnonzero(same)[:MAX_PROBLEMS]:
        first, second = sorted((int(rows.row[i]), int(rows.row[i + 1])))
        problems.append((second, f"duplicate: block {rows.block[i]}, tx_index "
                                f"{rows.tx_index[i]}, log_index {rows.log_index[i]} again "
                                f"(first on {inp.line(first)})"))
    _raise(inp, problems)
    # candidates by hash of the text as written, confirmed on the normalised text
    clash = np.flatnonzero(same_tx & (rows.tx_key[1:] != rows.tx_key[:-1]))[:MAX_PROBLEMS]
    starts = np.flatnonzero(np.r_[True, ~same_tx])
    keys = np.sort(rows.tx_key[starts])
    twice = keys[1:][keys[1:] == keys[:-1]][:MAX_PROBLEMS]
    pairs = [(int(i), int(i) + 1) for i in clash]
    for key in twice:  # a transaction hash at two places (or two hashes with one key)
        at = starts[rows.tx_key[starts] == key]
        pairs += [(int(at[0]), int(p)) for p in at[1:]]
    if not pairs:
        return
    hashes = text.at([p for pair in pairs for p in pair], rows.row)
    for a, b in pairs[: len(clash)]:
        if hashes[a] != hashes[b]:
            problems.append((int(rows.row[b]), f"block {rows.block[b]}, tx_index "
                             f"{rows.tx_index[b]} holds two transactions, {hashes[b]} and "
                             f"{hashes[a]} (on {inp.line(int(rows.row[a]))})"))
    for a, b in pairs[len(clash):]:
        if hashes[a] == hashes[b]:
            first, later = sorted((a, b), key=lambda p: int(rows.row[p]))
            problems.append((int(rows.row[later]), f"transaction {hashes[a]} is at block "
                             f"{rows.block[later]}, tx_index {rows.tx_index[later]}, but at "
                             f"block {rows.block[first]}, tx_index {rows.tx_index[first]} on "
                             f"{inp.line(int(rows.row[first]))}"))
    _raise(inp, problems)


# --- the formats ------------------------------------------------------------------------------

_GENERIC = [
    _Field("tx_hash", "text"), _Field("block", "int"), _Field("tx_index", "int"),
    _Field("log_index", "int", required=False), _Field("from", "address"),
    _Field("to", "address"), _Field("value", "amount"), _Field("fee", "amount", required=False),
    _Field("timestamp", "label", required=False), _Field("asset", "label", required=False),
]

_ETL_TRANSACTIONS = [
    _Field("hash", "text"), _Field("block_number", "int"), _Field("transaction_index", "int"),
    _Field("from_address", "address"), _Field("to_address", "address", nullable=True),
    _Field("value", "amount"), _Field("gas_price", "int", required=False, nullable=True),
    _Field("receipt_gas_used", "int", required=False, nullable=True),
    _Field("receipt_effective_gas_price", "int", required=False, nullable=True),
    _Field("receipt_status", "int", required=False, nullable=True),
    _Field("receipt_contract_address", "address", required=False, nullable=True),
]

_ETL_RECEIPTS = [
    _Field("transaction_hash", "text"), _Field("gas_used", "int", nullable=True),
    _Field("effective_gas_price", "int", required=False, nullable=True),
    _Field("status", "int", required=False, nullable=True),
    _Field("contract_address", "address", required=False, nullable=True),
]

_ETL_TOKENS = [
    _Field("token_address", "address"), _Field("from_address", "address"),
    _Field("to_address", "address"), _Field("value", "amount"),
    _Field("transaction_hash", "text"), _Field("log_index", "int"),
    _Field("block_number", "int"),
]

_MFTRACER = [
    _Field("timestamp", "label", required=False), _Field("block", "int"),
    _Field("tx_hash", "text"), _Field("from", "address"),
    _Field("from_label", "label", required=False), _Field("to", "address"),
    _Field("to_label", "label", required=False), _Field("value_in_usd", "usd"),
]


def load_account(path: Path, fmt: str, *, asset: str | None = None,
                 with_hashes: bool = True) -> AccountTransfers:
    """Read account-model transfers from ``path`` in ``fmt`` (one of :data:`ACCOUNT_FORMATS`).

    ``asset`` keeps one asset: the ``asset`` column's value (csv, parquet) or the token
    contract (ethereum-etl token transfers); a file holding several assets needs it.
    ``with_hashes=False`` leaves ``tx_hash`` empty strings (one shared object), for
    chain-sized inputs where a Python string per transfer would not fit in memory.
    """
    path = Path(path)
    if fmt not in ACCOUNT_FORMATS:
        raise InputFileError(f"{path}: unknown format {fmt!r}; expected one of "
                             f"{', '.join(ACCOUNT_FORMATS)}", file=str(path))
    con = _connect()
    try:
        if fmt == "ethereum-etl":
            return _load_etl(con, path, asset, with_hashes)
        if fmt == "mftracer":
            return _load_mftracer(con, path, with_hashes)
        return _load_generic(con, path, fmt == "parquet", asset, with_hashes)
    finally:
        con.close()


def _load_generic(con: duckdb.DuckDBPyConnection, path: Path, parquet: bool,
                  asset: str | None, hashes: bool) -> AccountTransfers:
    inp = _open(con, path, "raw", _GENERIC, parquet)
    keep = _asset_filter(con, inp, "asset", asset, lower=False)
    con.execute(
        f"CREATE VIEW std AS SELECT _row, {_bad_sql(inp, _GENERIC)} AS _bad, {keep} AS _keep, "
        f"tx_hash, {_int_sql(inp, 'block')} AS block, {_int_sql(inp, 'tx_index')} AS tx_index, "
        f"{_int_sql(inp, 'log_index')} AS log_index, \"from\" AS src, \"to\" AS dst, "
        f"{_amount_sql(inp, 'value')} AS value, {_amount_sql(inp, 'fee')} AS fee FROM raw")
    return _load_std(con, inp, _GENERIC, presorted=True, hashes=hashes)


def _asset_filter(con: duckdb.DuckDBPyConnection, inp: _Input, key: str, asset: str | None,
                  *, lower: bool) -> str:
    """A condition keeping one asset; refuse a file of several assets without a choice."""
    if not inp.has(key):
        if asset is not None:
            raise InputFileError(f"{inp.name}: no {key} column to choose {asset!r} by",
                                 file=inp.name)
        return "true"
    value = _normal_sql(_ident(key), _ETH_ADDRESS) if lower else f"trim({_ident(key)})"
    found = [str(r[0]) for r in con.execute(
        f"SELECT DISTINCT {value} AS a FROM {inp.table} ORDER BY a LIMIT 11").fetchall()]
    shown = ", ".join(found[:10]) + (", ..." if len(found) > 10 else "")
    if asset is None:
        if len(found) > 1:
            raise InputFileError(f"{inp.name}: transfers of several assets ({shown}); choose "
                                 "one", file=inp.name)
        return "true"
    wanted = asset.strip().lower() if lower else asset.strip()
    keep = f"coalesce({value} = {_lit(wanted)}, false)"
    if not con.execute(f"SELECT count(*) FROM {inp.table} WHERE {keep}").fetchall()[0][0]:
        raise InputFileError(f"{inp.name}: no transfers of {asset} (found: {shown or 'none'})",
                             file=inp.name)
    return keep


def _load_etl(con: duckdb.DuckDBPyConnection, path: Path, token: str | None,
              hashes: bool) -> AccountTransfers:
    if path.is_dir():
        tokens, transactions = path / "token_transfers.csv", path / "transactions.csv"
        if token is not None or not transactions.exists():
            if not tokens.exists():
                raise InputFileError(f"{path}: no token_transfers.csv or transactions.csv "
                                     "(an ethereum-etl export)", file=str(path))
            return _load_etl_tokens(con, tokens, transactions, token, hashes)
        return _load_etl_transactions(con, transactions, path / "receipts.csv", hashes)
    if "token_address" in {h.lower() for h in _header(path)}:
        return _load_etl_tokens(con, path, None, token, hashes)
    if token is not None:
        raise InputFileError(f"{path}: not a token_transfers.csv; cannot choose token {token}",
                             file=str(path))
    return _load_etl_transactions(con, path, None, hashes)


def _load_etl_transactions(con: duckdb.DuckDBPyConnection, path: Path,
                           receipts: Path | None, hashes: bool) -> AccountTransfers:
    """ETH moved by transactions: value (none if the receipt says it failed) and fee
    (gas used × effective gas price, each within int64, so the product fits HUGEINT)."""
    inp = _open(con, path, "raw", _ETL_TRANSACTIONS)

    def number(source: _Input, alias: str, key: str) -> str:
        return _int_sql(source, key, alias + ".") if source.has(key) else "NULL"

    gas = number(inp, "raw", "receipt_gas_used")
    price = (f"coalesce({number(inp, 'raw', 'receipt_effective_gas_price')}, "
             f"{number(inp, 'raw', 'gas_price')})")
    status = number(inp, "raw", "receipt_status")
    created = "raw.receipt_contract_address" if inp.has("receipt_contract_address") else "NULL"
    join = ""
    if not inp.has("receipt_gas_used") and receipts is not None and receipts.exists():
        rec = _open(con, receipts, "receipts", _ETL_RECEIPTS)
        _check(con, rec, _ETL_RECEIPTS)
        gas = number(rec, "r", "gas_used")
        price = f"coalesce({number(rec, 'r', 'effective_gas_price')}, {price})"
        status = number(rec, "r", "status")
        created = "r.contract_address" if rec.has("contract_address") else "NULL"
        join = (f"LEFT JOIN receipts r ON {_normal_sql('r.transaction_hash', _ETH_HASH)} = "
                f"{_normal_sql('raw.hash', _ETH_HASH)}")
    fee = (f"CAST(coalesce(CAST({gas} AS HUGEINT) * {price}, 0) AS VARCHAR)"
           if gas != "NULL" else "'0'")
    to = (f"coalesce(nullif(trim(raw.to_address), ''), nullif(trim({created}), ''), "
          f"'contract-creation:' || {_normal_sql('raw.hash', _ETH_HASH)})")
    con.execute(
        f"CREATE VIEW std AS SELECT raw._row, {_bad_sql(inp, _ETL_TRANSACTIONS)} AS _bad, "
        f"true AS _keep, raw.hash AS tx_hash, {_int_sql(inp, 'block_number', 'raw.')} AS block, "
        f"{_int_sql(inp, 'transaction_index', 'raw.')} AS tx_index, "
        f"CAST(0 AS BIGINT) AS log_index, raw.from_address AS src, {to} AS dst, "
        f"CASE WHEN coalesce({status} = 0, false) THEN '0' ELSE "
        f"{_amount_sql(inp, 'value', 'raw.')} END AS value, {fee} AS fee FROM raw {join}")
    return _load_std(con, inp, _ETL_TRANSACTIONS, presorted=False, hashes=hashes)


def _load_etl_tokens(con: duckdb.DuckDBPyConnection, path: Path, transactions: Path | None,
                     token: str | None, hashes: bool) -> AccountTransfers:
    """Token transfers of one token. ``log_index`` counts within the block, so it orders the
    block; ``tx_index`` is the transaction's ``transaction_index`` from a transactions.csv
    beside, else its rank in the block among the transactions in the file."""
    inp = _open(con, path, "raw", _ETL_TOKENS)
    keep = _asset_filter(con, inp, "token_address", token, lower=True)
    block, log = _int_sql(inp, "block_number", "raw."), _int_sql(inp, "log_index", "raw.")
    tx_index = (f"CAST(dense_rank() OVER (PARTITION BY {block} ORDER BY first_log) - 1 AS BIGINT)")
    source, join = (f"(SELECT *, min({log}) OVER (PARTITION BY {block}, raw.transaction_hash) "
                    "AS first_log FROM raw) AS raw"), ""
    if transactions is not None and transactions.exists():
        fields = [f for f in _ETL_TRANSACTIONS if f.key in ("hash", "transaction_index")]
        txs = _open(con, transactions, "txs", fields)
        _check(con, txs, fields)
        join = (f"LEFT JOIN txs t ON {_normal_sql('t.hash', _ETH_HASH)} = "
                f"{_normal_sql('raw.transaction_hash', _ETH_HASH)}")
        tx_index, source = _int_sql(txs, "transaction_index", "t."), "raw"
        lost = con.execute(
            f"SELECT raw._row, raw.transaction_hash FROM raw {join} WHERE {keep} "
            f"AND t.hash IS NULL ORDER BY raw._row LIMIT {MAX_PROBLEMS}").fetchall()
        _raise(inp, [(int(r), f"transaction {h} is not in {transactions}") for r, h in lost])
    con.execute(
        f"CREATE VIEW std AS SELECT raw._row, {_bad_sql(inp, _ETL_TOKENS)} AS _bad, "
        f"{keep} AS _keep, raw.transaction_hash AS tx_hash, {block} AS block, "
        f"{tx_index} AS tx_index, {log} AS log_index, raw.from_address AS src, "
        f"raw.to_address AS dst, {_amount_sql(inp, 'value', 'raw.')} AS value, "
        f"CAST(0 AS BIGINT) AS fee FROM {source} {join}")
    return _load_std(con, inp, _ETL_TOKENS, presorted=False, hashes=hashes)


def _load_mftracer(con: duckdb.DuckDBPyConnection, path: Path,
                   hashes: bool) -> AccountTransfers:
    inp = _open(con, path, "raw", _MFTRACER)
    _check(con, inp, _MFTRACER)
    _check_mftracer(con, inp)
    tx = _normal_sql("tx_hash", _ETH_HASH)
    con.execute(
        f"CREATE VIEW std AS SELECT _row, false AS _bad, true AS _keep, tx_hash, "
        f"{_int_sql(inp, 'block')} AS block, CAST(dense_rank() OVER (PARTITION BY "
        f"{_int_sql(inp, 'block')} ORDER BY {tx}) - 1 AS BIGINT) AS tx_index, "
        f"CAST(0 AS BIGINT) AS log_index, \"from\" AS src, \"to\" AS dst, "
        f"{_usd_cents_sql('value_in_usd')} AS value, CAST(0 AS BIGINT) AS fee FROM raw")
    return _load_std(con, inp, _MFTRACER, presorted=False, hashes=hashes, causal=True)


def _check_mftracer(con: duckdb.DuckDBPyConnection, inp: _Input) -> None:
    """The same row twice, or a transaction in two blocks, is refused."""
    tx = _normal_sql("tx_hash", _ETH_HASH)
    key = (f"{tx}, {_normal_sql(_ident('from'), _ETH_ADDRESS)}, "
           f"{_normal_sql(_ident('to'), _ETH_ADDRESS)}, {_usd_cents_sql('value_in_usd')}")
    twice = con.execute(
        f"SELECT _row, first_value(_row) OVER w FROM raw "
        f"WINDOW w AS (PARTITION BY {key} ORDER BY _row) QUALIFY row_number() OVER w > 1 "
        f"ORDER BY _row LIMIT {MAX_PROBLEMS}").fetchall()
    moved = con.execute(
        f"SELECT _row, trim(block), first_value(trim(block)) OVER w, first_value(_row) OVER w "
        f"FROM raw WINDOW w AS (PARTITION BY {tx} ORDER BY _row) "
        f"QUALIFY trim(block) <> first_value(trim(block)) OVER w "
        f"ORDER BY _row LIMIT {MAX_PROBLEMS}").fetchall()
    _raise(inp, [(int(r), f"duplicate of {inp.line(int(f))}") for r, f in twice]
           + [(int(r), f"transaction in block {b}, but in block {fb} on {inp.line(int(f))}")
              for r, b, fb, f in moved])


def _causal_log_index(rows: _Rows) -> Ints:
    """Within each transaction: rows paying into an address before rows paying out of it,
    else in file order (a cycle keeps file order). ``rows`` are in file order."""
    n = len(rows.row)
    logi = np.zeros(n, dtype=np.int64)
    if n == 0:
        return logi
    order = np.lexsort((rows.row, rows.tx_index, rows.block))
    b, t = rows.block[order], rows.tx_index[order]
    starts = np.flatnonzero(np.r_[True, (b[1:] != b[:-1]) | (t[1:] != t[:-1])])
    ends = np.r_[starts[1:], n]
    for a, z in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
        members = [int(i) for i in order[a:z]]
        for rank, i in enumerate(_topological(members, rows.src, rows.dst)):
            logi[i] = rank
    return logi


def _topological(members: list[int], src: Ints, dst: Ints) -> list[int]:
    """``members`` (file order) so that a row paying into an address comes before a row paying
    out of it; on a cycle, the first row left goes next."""
    left, done = list(members), []
    pending = Counter(int(dst[i]) for i in left)  # payments not yet placed, by receiver
    while left:
        ready = next((i for i in left
                      if pending[int(src[i])] - (dst[i] == src[i]) == 0), left[0])
        done.append(ready)
        left.remove(ready)
        pending[int(dst[ready])] -= 1
    return done


def mftracer_labels(path: Path) -> dict[str, str]:
    """The MFTracer file's labels: address (lower-cased) → label, from From_label/To_label;
    an address labelled two ways is refused."""
    path = Path(path)
    con = _connect()
    try:
        fields = [f for f in _MFTRACER if f.key in ("from", "to", "from_label", "to_label")]
        inp = _open(con, path, "raw", fields)
        parts = [f"SELECT _row, {_normal_sql(_ident(a), _ETH_ADDRESS)} AS a, "
                 f"trim({_ident(a + '_label')}) AS l FROM raw"
                 for a in ("from", "to") if inp.has(a + "_label")]
        if not parts:
            return {}
        rows = con.execute(f"SELECT a, l, _row FROM ({' UNION ALL '.join(parts)}) "
                           "WHERE l <> '' ORDER BY _row").fetchall()
    finally:
        con.close()
    labels: dict[str, str] = {}
    seen: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    for address, label, row in rows:
        if labels.setdefault(address, label) != label:
            problems.append((int(row), f"{address} is labelled {label!r}, but "
                             f"{labels[address]!r} on {inp.line(seen[address])}"))
        seen.setdefault(address, int(row))
    _raise(inp, problems)
    return labels


# --- UTXO JSON lines ----------------------------------------------------------------------

class _Bad(Exception):
    pass


def _whole(value: Any, what: str) -> int:
    if type(value) is not int:
        raise _Bad(f"{what} is not a whole number: {json.dumps(value)[:80]}")
    if value < 0:
        raise _Bad(f"{what} is negative: {value}")
    return value


def _text(record: dict[str, Any], key: str, what: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{what}{key} is {'empty' if value in ('', None) else 'not text'}")
    return value.strip()


def _keys(record: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise _Bad(f"{what}expected a JSON object")
    missing = [k for k in keys if k not in record]
    if missing:
        raise _Bad(f"{what}missing key(s) {', '.join(missing)}")
    return record


def load_utxo(path: Path) -> UtxoTransactions:
    """Read UTXO transactions from JSON lines, in file order (which must be block order).

    Each input spending an output of an earlier transaction in the file is resolved to that
    output's global index and must carry its value and address, and spend it once; an input
    whose transaction is not in the file gets -1 (clean money from outside the data); an
    input spending an output of a later transaction is refused. Inputs must add up to the
    outputs plus the fee (a transaction without inputs mints: its outputs are new money).
    Lines are read one at a time with :mod:`json` (exact integers of any size).
    """
    path = Path(path)
    name = str(path)
    problems: list[str] = []
    txids: list[str] = []
    blocks, fees = array("q"), list[int]()
    in_start, out_start = array("q", [0]), array("q", [0])
    in_output, in_values, in_addr = array("q"), list[int](), array("q")
    out_values: list[int] = []
    out_addr = array("q")
    out_spent: dict[int, int] = {}
    tx_at: dict[str, tuple[int, int]] = {}  # txid -> (position, line)
    later: list[tuple[int, str, int]] = []  # (line, txid, input index) not (yet) in the file
    addresses: dict[str, int] = {}

    def address_id(text: str) -> int:
        return addresses.setdefault(text, len(addresses))

    try:
        fh = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}", file=name) from None
    with fh:
        line = 0
        try:
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    _utxo_line(text, line, blocks, txids, tx_at, in_start, in_output, in_values,
                               in_addr, out_start, out_values, out_addr, out_spent, later, fees,
                               address_id)
                except _Bad as exc:
                    problems.append(f"{name}:{line}: {exc}")
                    if len(problems) >= MAX_PROBLEMS:
                        break
        except UnicodeDecodeError as exc:
            problems.append(f"{name}:{line + 1}: not UTF-8 text ({exc.reason})")
    for line, txid, k in later:
        if txid in tx_at and len(problems) < MAX_PROBLEMS:
            at = tx_at[txid][1]
            problems.append(f"{name}:{line}: input {k}: spends an output of "
                            + ("its own transaction" if at == line else
                               f"transaction {txid}, which comes later, on line {at}"))
    if problems:
        raise InputFileError(f"{name}: {len(problems)} problem(s); nothing was loaded",
                             problems=problems[:MAX_PROBLEMS], file=name)
    small = _fit(in_values, out_values, fees)
    return UtxoTransactions(
        txid=np.array(txids, dtype=object), block=np.frombuffer(blocks, dtype=np.int64).copy(),
        in_start=np.frombuffer(in_start, dtype=np.int64).copy(),
        in_output=np.frombuffer(in_output, dtype=np.int64).copy(),
        in_value=_amount_array(in_values, small),
        in_address=np.frombuffer(in_addr, dtype=np.int64).copy(),
        out_start=np.frombuffer(out_start, dtype=np.int64).copy(),
        out_value=_amount_array(out_values, small),
        out_address=np.frombuffer(out_addr, dtype=np.int64).copy(),
        fee=_amount_array(fees, small), addresses=np.array(list(addresses), dtype=object))


def _fit(*lists: list[int]) -> bool:
    return all(v <= INT64_MAX for values in lists for v in values) and \
        sum(sum(values) for values in lists) <= INT64_MAX


def _amount_array(values: list[int], small: bool) -> Amounts:
    if small:
        return np.array(values, dtype=np.int64)
    return np.fromiter(values, dtype=object, count=len(values))


def _utxo_line(text: str, line: int, blocks: array[int], txids: list[str],
               tx_at: dict[str, tuple[int, int]], in_start: array[int], in_output: array[int],
               in_values: list[int], in_addr: array[int], out_start: array[int],
               out_values: list[int], out_addr: array[int], out_spent: dict[int, int],
               later: list[tuple[int, str, int]], fees: list[int],
               address_id: Callable[[str], int]) -> None:
    """Check and append one transaction; on a problem append nothing and raise _Bad."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Bad(f"not JSON: {exc.msg} (column {exc.colno})") from None
    tx = _keys(record, ("txid", "block", "inputs", "outputs", "fee"), "")
    txid = _text(tx, "txid", "")
    block = _whole(tx["block"], "block")
    fee = _whole(tx["fee"], "fee")
    if txid in tx_at:
        raise _Bad(f"transaction {txid} again (first on line {tx_at[txid][1]})")
    if blocks and block < blocks[-1]:
        raise _Bad(f"block {block} comes after block {blocks[-1]} (line "
                   f"{tx_at[txids[-1]][1]}); transactions must be in block order")
    inputs, outputs = tx["inputs"], tx["outputs"]
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise _Bad("inputs and outputs must be lists")
    outs: list[tuple[int, str]] = []
    for k, out in enumerate(outputs):
        what = f"output {k}: "
        o = _keys(out, ("value", "address"), what)
        outs.append((_whole(o["value"], what + "value"), _text(o, "address", what)))
    ins: list[tuple[int, int, str, str, int]] = []  # (spent output, value, address, txid, vout)
    spending: set[int] = set()
    for k, inp in enumerate(inputs):
        what = f"input {k}: "
        i = _keys(inp, ("txid", "vout", "value", "address"), what)
        spent_txid, vout = _text(i, "txid", what), _whole(i["vout"], what + "vout")
        value, address = _whole(i["value"], what + "value"), _text(i, "address", what)
        spent = -1
        if spent_txid in tx_at:
            position = tx_at[spent_txid][0]
            first, stop = out_start[position], out_start[position + 1]
            if vout >= stop - first:
                raise _Bad(f"{what}transaction {spent_txid} has only {stop - first} output(s)")
            spent = first + vout
            if out_values[spent] != value:
                raise _Bad(f"{what}value {value}, but output {vout} of {spent_txid} holds "
                           f"{out_values[spent]}")
            if out_addr[spent] != address_id(address):
                raise _Bad(f"{what}address {address}, but output {vout} of {spent_txid} "
                           "pays another address")
            if spent in out_spent or spent in spending:
                raise _Bad(f"{what}output {vout} of {spent_txid} already spent "
                           f"(line {out_spent.get(spent, line)})")
            spending.add(spent)
        ins.append((spent, value, address, spent_txid, vout))
    total_in = sum(v for _, v, _, _, _ in ins)
    total_out = sum(v for v, _ in outs) + fee
    if ins and total_in != total_out:
        raise _Bad(f"inputs add up to {total_in}, outputs and fee to {total_out}")
    position = len(txids)
    txids.append(txid)
    tx_at[txid] = (position, line)
    blocks.append(block)
    fees.append(fee)
    for k, (spent, value, address, spent_txid, _) in enumerate(ins):
        if spent >= 0:
            out_spent[spent] = line
        else:
            later.append((line, spent_txid, k))
        in_output.append(spent)
        in_values.append(value)
        in_addr.append(address_id(address))
    for value, address in outs:
        out_values.append(value)
        out_addr.append(address_id(address))
    in_start.append(len(in_output))
    out_start.append(len(out_values))


# --- the reachable part ----------------------------------------------------------------------

def reduce_reachable(
    transfers: AccountTransfers, seed_positions: npt.ArrayLike,
    seed_addresses: Iterable[tuple[int, int] | tuple[int, int, int | None]],
) -> tuple[AccountTransfers, Ints]:
    """The transfers a trace from these seeds can need, and their original positions.

    ``seed_positions``: positions of the seed transfers (or a boolean mask over the transfers,
    as :attr:`AccountSeeds.transfers`); ``seed_addresses``: (address id, position from which it
    holds taint[, amount]), as :attr:`AccountSeeds.addresses`. The result keeps the address ids
    (and ``addresses``) of the input, so per-address results compare directly; map seeds with
    :func:`reduce_seeds` and per-transfer results back with the returned positions.

    **What is kept.** An address can hold taint from time ``t(a)``: a seed address from its
    seed position, the receiver of a seed transfer at ``p`` from ``p + 1``, and the receiver of
    any transfer at ``q`` from a sender with ``t(x) ≤ q`` from ``q + 1`` (the earliest such
    time wins). These ``t`` are the least fixpoint of joins, computed in SQL by DuckDB as
    semi-naive iteration (each round joins the transfers only with the addresses whose
    ``t`` improved in the round before; each round is a plain join and group-by that a
    distributed engine runs as well)::

        cand  = SELECT x.dst, min(x.pos) + 1 FROM x JOIN delta d ON x.src = d.addr
                WHERE x.pos >= d.t GROUP BY x.dst
        delta = cand rows that are new or earlier than reach;  reach = reach ∪ delta

    Kept: every transfer from or to a reachable address (one with a ``t``), at any time, and
    the transfer at each seed address's position (so that the position, which the kernels
    report as that address's ``first_tainted``, maps back exactly; a transfer touching no
    reachable address changes nothing, see below). When that is :data:`MOST` of the chain or
    more, the chain itself is returned (with positions ``0..n-1``), rather than a copy.

    **Why exact, for each policy.** Every policy's state is per address (poison: balance and
    the poisoned flag; haircut: balance and taint; FIFO/LIFO: the sequence of clean and
    tainted lots) and changes only with the transfers into or out of that address. A transfer
    carries taint only if its sender holds taint then, which needs a seed or an earlier
    transfer carrying taint into it: by induction over positions, every address that holds
    taint in the full trace has a ``t`` no later than its first taint (stops and the hop
    horizon only remove taint, so the set is a superset). A dropped transfer touches no
    reachable address, so it carries no taint and changes only addresses that never hold
    any. Each reachable address sees exactly the same transfers in the same order (its
    clean history before its first taint included: the balance for haircut and poison, the
    clean lots ahead of the taint for FIFO/LIFO, the top-ups of incomplete history), with the
    same incoming taint by induction; so flows, received, sent, held, absorbed, first
    tainted, hops, burned and seeded are identical, and every other address has none in
    either run.
    """
    n = len(transfers)
    positions = np.asarray(seed_positions)
    if positions.dtype == np.bool_:
        positions = np.flatnonzero(positions)
    positions = positions.astype(np.int64, copy=False).reshape(-1)
    pairs = [(int(s[0]), int(s[1])) for s in seed_addresses]
    marks = "[" + ", ".join(str(p) for _, p in pairs) + "]::BIGINT[]"
    seeds = pa.table({
        "addr": np.concatenate([transfers.dst[positions],
                                np.array([a for a, _ in pairs], dtype=np.int64)]),
        "t": np.concatenate([positions + 1, np.array([p for _, p in pairs], dtype=np.int64)])})
    edges = pa.table({"pos": np.arange(n, dtype=np.int64), "src": transfers.src,
                      "dst": transfers.dst})
    con = _connect()
    try:
        con.register("edges_in", edges)
        con.register("seeds_in", seeds)
        con.execute("CREATE TABLE x AS SELECT pos, src, dst FROM edges_in")
        con.execute("CREATE TABLE reach AS SELECT addr, min(t) AS t FROM seeds_in GROUP BY addr")
        con.execute("CREATE TABLE delta AS SELECT addr, t FROM reach")
        while True:
            lo = con.execute("SELECT min(t) FROM delta").fetchall()[0]
            if lo[0] is None:
                break
            con.execute(
                "CREATE OR REPLACE TABLE cand AS SELECT x.dst AS addr, min(x.pos) + 1 AS t "
                "FROM x JOIN delta d ON x.src = d.addr "
                f"WHERE x.pos >= d.t AND x.pos >= {int(lo[0])} GROUP BY x.dst")
            con.execute(
                "CREATE OR REPLACE TABLE delta AS SELECT c.addr, c.t FROM cand c "
                "LEFT JOIN reach r ON c.addr = r.addr WHERE r.t IS NULL OR c.t < r.t")
            con.execute(
                "CREATE OR REPLACE TABLE reach AS SELECT addr, min(t) AS t FROM "
                "(SELECT * FROM reach UNION ALL SELECT * FROM delta) GROUP BY addr")
        kept_table = _arrow(con, "SELECT pos FROM x WHERE src IN (SELECT addr FROM reach) "
                                 "OR dst IN (SELECT addr FROM reach) "
                                 f"OR pos IN (SELECT p FROM unnest({marks}) AS m(p))")
    finally:
        con.close()
    kept = np.sort(_ints(kept_table["pos"]))
    if len(kept) >= MOST * n:  # hardly smaller: keep everything (exact too) and copy nothing
        return transfers, np.arange(n, dtype=np.int64)
    return _take(transfers, kept), kept


def _take(t: AccountTransfers, kept: Ints) -> AccountTransfers:
    return AccountTransfers(
        src=t.src[kept], dst=t.dst[kept], value=t.value[kept], fee=t.fee[kept],
        block=t.block[kept], tx_index=t.tx_index[kept], log_index=t.log_index[kept],
        tx_hash=t.tx_hash[kept], addresses=t.addresses)


def reduce_seeds(seeds: AccountSeeds, kept: Ints) -> AccountSeeds:
    """The seeds in the positions of transfers reduced to ``kept`` (from :func:`reduce_reachable`
    with these seeds, which keeps every seed address's position: it maps to its index in
    ``kept``; a position after the last transfer maps to ``len(kept)``)."""
    return AccountSeeds(
        transfers=np.asarray(seeds.transfers, dtype=np.bool_)[kept],
        addresses=tuple((a, int(np.searchsorted(kept, p)), amount)
                        for a, p, amount in seeds.addresses))


# --- a synthetic chain -----------------------------------------------------------------------

SYNTH_CHUNK = 1_000_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: a bijection of 64-bit words (distinct in, distinct out)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _hex_strings(words: list[npt.NDArray[np.uint64]], digits: int) -> pa.Array:
    """``0x`` + ``digits`` hex digits from the words (16 digits per word), as a string array."""
    n = len(words[0])
    nibbles = np.empty((n, 16 * len(words)), dtype=np.uint8)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    for k, w in enumerate(words):
        nibbles[:, 16 * k: 16 * (k + 1)] = (w[:, None] >> shifts) & np.uint64(15)
    text = np.empty((n, digits + 2), dtype=np.uint8)
    text[:, 0], text[:, 1] = ord("0"), ord("x")
    text[:, 2:] = _HEX[nibbles[:, :digits]]
    offsets = np.arange(0, (n + 1) * (digits + 2), digits + 2, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_string(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())]
                                 ).cast(pa.string())


def _synth_addresses(n: int, seed: int) -> pa.Array:
    base = np.arange(n, dtype=np.uint64) * np.uint64(3) + np.uint64(seed % 2**32 << 32)
    return _hex_strings([_mix(base), _mix(base + np.uint64(1)), _mix(base + np.uint64(2))], 40)


_SYNTH_SCHEMA = pa.schema([
    ("tx_hash", pa.string()), ("block", pa.int64()), ("tx_index", pa.int64()),
    ("log_index", pa.int64()), ("from", pa.dictionary(pa.int32(), pa.string())),
    ("to", pa.dictionary(pa.int32(), pa.string())), ("value", pa.int64()), ("fee", pa.int64()),
])


def _synth_batches(n_transfers: int, n_addresses: int, seed: int,
                   chunk: int = SYNTH_CHUNK) -> Iterator[pa.RecordBatch]:
    """The synthetic chain in record batches of ``chunk`` transfers; the numbering of blocks,
    transactions and logs carries over from one batch to the next."""
    if n_transfers < 0 or n_addresses < 2:
        raise ValueError("need n_transfers >= 0 and n_addresses >= 2")
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.arange(1, n_addresses + 1, dtype=np.float64) ** -1.1)
    cdf /= cdf[-1]
    who = rng.permutation(n_addresses).astype(np.int32)  # rank -> address: hubs anywhere
    dictionary = _synth_addresses(n_addresses, seed)
    salt = np.uint64(rng.integers(0, 2**63))
    # the last row so far: its block, its transaction's index in the block, its log index,
    # and the number of transactions so far
    block, tx_index, log_index, tx_count = 1_000_000, 0, 0, 0
    done = 0
    while done < n_transfers:
        m = min(chunk, n_transfers - done)
        at = np.arange(m)
        new_tx = rng.random(m) < 0.85  # about 1.2 transfers per transaction
        new_block = new_tx & (rng.random(m) < 1 / 150)  # about 150 transactions per block
        if done == 0:
            new_tx[0] = new_block[0] = True
        tx_no = np.cumsum(new_tx) - 1 + tx_count  # the row's transaction, counted globally
        tx_first = np.maximum.accumulate(np.where(new_tx, at, -1))
        logs = np.where(tx_first >= 0, at - tx_first, log_index + 1 + at)
        blocks = block + np.cumsum(new_block)
        block_tx = np.maximum.accumulate(np.where(new_block, tx_no, -1))
        txs = np.where(block_tx >= 0, tx_no - block_tx, tx_index + tx_no - (tx_count - 1))
        sender = who[np.searchsorted(cdf, rng.random(m)).clip(0, n_addresses - 1)]
        receiver = who[np.searchsorted(cdf, rng.random(m)).clip(0, n_addresses - 1)]
        receiver = np.where(receiver == sender, (receiver + 1) % n_addresses, receiver)
        value = np.minimum(np.exp(rng.normal(np.log(1e6), 2.5, m)), 1e14).astype(np.int64) + 1
        fee = np.exp(rng.normal(np.log(2e3), 0.5, m)).astype(np.int64)
        yield pa.record_batch([
            _hex_strings([_mix(tx_no.astype(np.uint64) ^ salt)], 16),
            pa.array(blocks, type=pa.int64()), pa.array(txs, type=pa.int64()),
            pa.array(logs, type=pa.int64()),
            pa.DictionaryArray.from_arrays(pa.array(sender, type=pa.int32()), dictionary),
            pa.DictionaryArray.from_arrays(pa.array(receiver, type=pa.int32()), dictionary),
            pa.array(value, type=pa.int64()), pa.array(fee, type=pa.int64()),
        ], schema=_SYNTH_SCHEMA)
        block, tx_index, log_index = int(blocks[-1]), int(txs[-1]), int(logs[-1])
        tx_count = int(tx_no[-1]) + 1
        done += m


def synth_account(n_transfers: int, n_addresses: int, seed: int) -> pa.Table:
    """A reproducible synthetic account-model chain in the generic format, sorted.

    Senders and receivers are drawn Zipf-like (the address of rank k with weight k^-1.1, ranks
    shuffled over the addresses), so a few hubs carry much of the traffic, as exchanges do;
    values are lognormal (median 10⁶ minor units, capped at 10¹⁴, so totals stay in int64),
    fees lognormal around 2,000; about 1.2 transfers per transaction and 150 transactions per
    block. Hashes are 16 hex digits (distinct: a bijection of the transaction number),
    addresses 40 hex digits; ``from`` and ``to`` are dictionary-encoded. Everything is
    vectorised numpy, no Python object per transfer; 50M transfers take about 3 GB (use
    :func:`write_synth_parquet` to stream them to a file instead).
    """
    return pa.Table.from_batches(list(_synth_batches(n_transfers, n_addresses, seed)),
                                 schema=_SYNTH_SCHEMA)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write a transfers table as Parquet, in row groups of 1M transfers. Dictionary-encoded
    columns are written as plain text, which Parquet encodes with a dictionary of the values
    each row group uses (not the whole dictionary again in every row group)."""
    with pq.ParquetWriter(str(path), _plain(table.schema),
                          dictionary_pagesize_limit=64 << 20) as writer:
        for batch in table.to_batches(max_chunksize=SYNTH_CHUNK):
            writer.write_batch(_plain_batch(batch), row_group_size=SYNTH_CHUNK)


def _plain(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type)
                      else f for f in schema])


def _plain_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.record_batch(
        [c.dictionary.take(c.indices) if pa.types.is_dictionary(c.type) else c
         for c in batch.columns], schema=_plain(batch.schema))


def write_synth_parquet(path: Path, n_transfers: int, n_addresses: int, seed: int) -> int:
    """Stream :func:`synth_account`'s chain (the same one) to a Parquet file batch by batch,
    in the memory of one batch; returns the number of transfers written."""
    written = 0
    with pq.ParquetWriter(str(path), _plain(_SYNTH_SCHEMA),
                          dictionary_pagesize_limit=64 << 20) as writer:
        for batch in _synth_batches(n_transfers, n_addresses, seed):
            writer.write_batch(_plain_batch(batch), row_group_size=SYNTH_CHUNK)
            written += batch.num_rows
    return written
