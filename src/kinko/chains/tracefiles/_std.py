"""From a format's standard view ``std`` to :class:`~kinko.domain.trace.model.AccountTransfers`.

Each format defines the view ``std`` over its input: ``_row``, ``_bad`` (a value of the row is
wrong), ``_keep`` (the row is of the chosen asset), ``tx_hash``, ``block``, ``tx_index``,
``log_index``, ``src``, ``dst`` (text as in the file), ``value``, ``fee`` (BIGINT or digits).
:func:`_load_std` checks the rows and reads their integer columns in one streamed pass
(:func:`_row_pass`), numbers the addresses, puts the transfers in processing order (or checks
that the file already is), refuses two transfers at one position and a transaction at two,
and makes the amount arrays (int64 when every amount and their total fit, else Python ints).
A file that lists a transaction's rows in no fixed order (MFTracer) gets them ordered so that
a payment into an address comes before the payment out of it (:func:`_causal_log_index`).

Strings never cross into Python per row: the row pass returns integers and 64-bit hashes of
the strings; the distinct addresses are normalised and numbered once, and each row's hash is
looked up among theirs (exactly: when two distinct addresses share a hash, DuckDB joins on
the text instead); a sorted Parquet file's addresses are numbered from its own dictionaries
instead. Seed transactions named in advance are found on the same pass.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from kinko.chains.tracefiles._common import (
    _ETH_ADDRESS,
    _ETH_HASH,
    INT64_MAX,
    MAX_PROBLEMS,
    SYNTH_CHUNK,
    Amounts,
    Ints,
    _arrow,
    _ints,
    _lit,
)
from kinko.chains.tracefiles._keys import neighbours, repeated_keys
from kinko.chains.tracefiles._read import _check, _Field, _Input, _normal_sql, _raise
from kinko.chains.tracefiles.hashes import TxHashStore, _normal_hashes
from kinko.domain.messages import Message, msg
from kinko.domain.trace.model import AccountTransfers
from kinko.errors import InputFileError


@dataclass(frozen=True)
class InStore:
    """Keep the transaction hashes in a :class:`TxHashStore`. ``find``: hashes (trimmed and
    lower-cased, as :func:`kinko.services.trace.resolve_seeds` asks for them) whose
    positions the row pass notes on its way, so that the store finds them without reading
    every hash again."""

    find: frozenset[str] = frozenset()


Hashes = bool | InStore  # all as Python strings, none, or in a TxHashStore
Loaded = tuple[AccountTransfers, TxHashStore | None]


@dataclass
class _Rows:
    """The kept rows in processing order, as numpy arrays. ``row``: each one's file row, or
    None when that is its position (every row kept, in file order: a large sorted file need
    not hold a chain-sized 0, 1, 2, ...)."""

    row: Ints | None
    block: Ints
    tx_index: Ints
    log_index: Ints
    tx_key: npt.NDArray[np.uint64]  # hash of the transaction hash as in the file
    src: Ints
    dst: Ints

    def take(self, order: Ints) -> None:
        self.row = order if self.row is None else self.row[order]
        for name in ("block", "tx_index", "log_index", "tx_key", "src", "dst"):
            setattr(self, name, getattr(self, name)[order])

    def __len__(self) -> int:
        return len(self.block)

    def file_row(self, i: int) -> int:
        """The file row of the row at position ``i``."""
        return int(i) if self.row is None else int(self.row[i])

    def file_rows(self) -> Ints:
        """The file row of each row (made, when they are the positions)."""
        return np.arange(len(self), dtype=np.int64) if self.row is None else self.row


def _load_std(con: duckdb.DuckDBPyConnection, inp: _Input, fields: list[_Field], *,
              presorted: bool, hashes: Hashes, causal: bool = False,
              parquet_columns: tuple[str, str, str] | None = None) -> Loaded:
    """Check, fetch, order, factorise: the standard view ``std`` as :class:`AccountTransfers`
    (with a :class:`TxHashStore` when ``hashes`` is :class:`InStore`: ``tx_hash`` is then
    empty).

    One pass over ``std`` (:func:`_row_pass`) checks the rows and reads every integer column,
    streamed into numpy arrays batch by batch (memory holds the arrays plus one batch).
    ``parquet_columns`` (the Parquet file's transaction hash, sender and receiver columns, for
    a file read in its own order) lets the addresses be numbered from the file's dictionaries
    (:func:`_file_address_ids`, in a thread while DuckDB reads the rest) and the hashes be
    read from the file itself when asked for (:meth:`TxHashStore.of_file`), rather than
    copied."""
    from_file = parquet_columns is not None and presorted and not inp.empty
    find = hashes.find if isinstance(hashes, InStore) and _text_hashes(con) else frozenset()
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="kinko-addresses") as pool:
        numbered = (pool.submit(_file_address_ids, inp.path, parquet_columns[1:], stop)
                    if from_file and parquet_columns is not None else None)
        try:
            return _load_rows(con, inp, fields, presorted=presorted, hashes=hashes,
                              causal=causal, parquet_columns=parquet_columns, find=find,
                              numbered=numbered)
        finally:
            stop.set()  # the thread's work is taken, or no longer wanted (a refused file)


def _load_rows(con: duckdb.DuckDBPyConnection, inp: _Input, fields: list[_Field], *,
               presorted: bool, hashes: Hashes, causal: bool,
               parquet_columns: tuple[str, str, str] | None, find: frozenset[str],
               numbered: Future[_Numbered | None] | None) -> Loaded:
    columns, candidates = _row_pass(con, inp, fields, find)
    empty = np.zeros(0, np.int64)
    rows = _Rows(row=columns.get("_row"), block=columns["block"], tx_index=columns["tx_index"],
                 log_index=columns["log_index"], tx_key=columns["h"], src=empty, dst=empty)
    if numbered is None:
        (rows.src, rows.dst), addresses = _address_ids(con)
    if causal:
        rows.log_index = _causal_log_index(rows)
    position: Ints | None = None
    everything = hashes is True
    text = _TxHashes(con, None, False)
    try:
        if presorted:
            _check_sorted(inp, rows)
        else:
            position = np.lexsort((rows.log_index, rows.tx_index, rows.block))
            rows.take(position)
        text = _TxHashes(con, position if everything else None, everything)
        _check_unique(inp, rows, text)
    except InputFileError:
        if numbered is not None:  # a value is wrong too: that is said first, as for the rest
            _check_addresses(con, inp, fields, numbered.result())
        raise
    del columns["h"]  # checked: the hashes' keys are no longer held
    rows.tx_key = np.zeros(0, np.uint64)
    store: TxHashStore | None = None
    if isinstance(hashes, InStore):
        if numbered is not None and parquet_columns is not None:
            whole = len(rows) == 0 or rows.file_row(len(rows) - 1) == len(rows) - 1
            store = TxHashStore.of_file(inp.path, parquet_columns[0],
                                        None if whole else rows.file_rows().copy())
        else:
            store = TxHashStore.write(con, position, len(rows))
        if find and candidates is not None:
            store.note(find, _seed_positions(find, candidates, rows.row))
    value, fee = _amount_arrays(con, columns["v"], columns["f"], columns["big"], position)
    del columns
    if numbered is not None:
        found = numbered.result()
        assert found is not None
        _check_addresses(con, inp, fields, found)
        (rows.src, rows.dst), addresses = _kept_ids(found, rows)
    tx_hash = (text.all() if everything else np.empty(0, dtype=object) if store is not None
               else np.full(len(rows), "", dtype=object))
    return AccountTransfers(
        src=rows.src, dst=rows.dst, value=value, fee=fee, block=rows.block,
        tx_index=rows.tx_index, log_index=rows.log_index, tx_hash=tx_hash,
        addresses=addresses), store


def _check_addresses(con: duckdb.DuckDBPyConnection, inp: _Input, fields: list[_Field],
                     numbered: _Numbered | None) -> None:
    """Refuse the file, every problem named, when its dictionaries show a sender or receiver
    that may be empty (the row pass left those columns to :func:`_file_address_ids`)."""
    if numbered is not None and numbered.suspect:
        _check(con, inp, fields)


def _text_hashes(con: duckdb.DuckDBPyConnection) -> bool:
    """``std.tx_hash`` is text (not bytes or numbers), so the row pass can look for seeds."""
    return str(con.execute("DESCRIBE SELECT tx_hash FROM std").fetchall()[0][1]) == "VARCHAR"


_MOST_FOUND = 64  # seed hashes looked for during the row pass (more: the store reads them)
_RUN = 4  # digits in a row of a wanted hash that pick few enough candidates
_MOST_CANDIDATES = 1_000_000  # candidates confirmed after the row pass
_PASS = {"_row": np.int64, "block": np.int64, "tx_index": np.int64, "log_index": np.int64,
         "h": np.uint64, "v": np.int64, "f": np.int64, "big": np.bool_}


def _row_pass(con: duckdb.DuckDBPyConnection, inp: _Input, fields: list[_Field],
              find: frozenset[str]
              ) -> tuple[dict[str, npt.NDArray[Any]], list[tuple[int, str]] | None]:
    """Every row of ``std`` once, in file order: refuse the file if a value is wrong (with
    :func:`_check`'s messages), else the integer columns (``h``: a 64-bit hash of the
    transaction hash as written; ``v``, ``f``: the amounts when they fit int64, ``big`` where
    one does not) and, when ``find`` names seed hashes, the rows whose hash may be one of
    them with that hash's text (a superset, confirmed by :func:`_seed_positions`; None when
    there are too many). ``_row`` is left out of the columns when it is 0, 1, 2, ...."""
    seed = _maybe_seed_sql(find)
    sql = ("SELECT _row, _bad, block, tx_index, log_index, hash(tx_hash) AS h, "
           "TRY_CAST(value AS BIGINT) AS v, TRY_CAST(fee AS BIGINT) AS f, "
           "(value IS NOT NULL AND v IS NULL) OR (fee IS NOT NULL AND f IS NULL) AS big"
           + (f", CASE WHEN {seed} THEN CAST(tx_hash AS VARCHAR) END AS seed" if seed else "")
           + " FROM std WHERE _keep OR _bad")
    capacity = int(con.execute(f"SELECT count(*) FROM {inp.table}").fetchall()[0][0])
    out = _Columns(_PASS, capacity, counting="_row")
    candidates: list[tuple[int, str]] | None = []
    relation = con.sql(sql)
    reader = (getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch)(
        SYNTH_CHUNK)
    bad = False
    for batch in reader:
        if batch.num_rows == 0:
            continue
        if pc.any(batch.column("_bad")).as_py():
            bad = True
            break
        out.append({name: _numpy(batch.column(name)) for name in _PASS})
        if seed and candidates is not None:
            texts = batch.column("seed")
            if batch.num_rows - texts.null_count > _MOST_CANDIDATES - len(candidates):
                candidates = None  # too many to confirm here: the store reads the hashes
            elif texts.null_count < batch.num_rows:
                at = pc.indices_nonzero(pc.is_valid(texts))
                candidates += zip(_ints(batch.column("_row").take(at)).tolist(),
                                  texts.take(at).to_pylist(), strict=True)
    reader.close()  # the connection is free for the next query
    if bad:
        _check(con, inp, fields)
        raise InputFileError(f"{inp.name}: some values are wrong", file=inp.name,
                             says=msg("error.tracefile.values_wrong", file=inp.name[:200]))
    columns = out.arrays()
    row = columns.get("_row")  # None: the rows are 0, 1, 2, ... (every row, in file order)
    if row is not None and len(row) > 1 and not bool(np.all(row[1:] > row[:-1])):
        # a join moved rows
        order = np.argsort(row, kind="stable")
        columns = {name: values[order] for name, values in columns.items()}
    return columns, candidates


def _numpy(column: pa.Array) -> npt.NDArray[Any]:
    """An Arrow column of the row pass as numpy (zero-copy when it has no nulls; a null,
    only ever an amount beyond int64, becomes 0)."""
    if column.null_count:
        column = column.fill_null(False if pa.types.is_boolean(column.type) else 0)
    return np.asarray(column.to_numpy(zero_copy_only=False))


class _Columns:
    """numpy columns filled batch by batch, into arrays of the expected size (grown if the
    rows turn out more), so that no column is ever held twice. The column ``counting`` is
    not written while it holds 0, 1, 2, ... (fresh memory costs its first touch: a chain's
    row numbers are 400 MB at 50M); :meth:`arrays` then leaves it out."""

    def __init__(self, dtypes: dict[str, Any], capacity: int, counting: str | None = None
                 ) -> None:
        self.size = 0
        self.data = {name: np.empty(capacity, dtype=dtype) for name, dtype in dtypes.items()}
        self.counting = counting  # None once it holds something else

    def append(self, batch: dict[str, npt.NDArray[Any]]) -> None:
        m = len(next(iter(batch.values())))
        if self.counting is not None and not _counts(batch[self.counting], self.size):
            self.data[self.counting][:self.size] = np.arange(self.size)  # written after all
            self.counting = None
        for name, values in batch.items():
            if name == self.counting:
                continue
            target = self.data[name]
            if self.size + m > len(target):
                grown = np.empty(max(self.size + m, 2 * len(target)), dtype=target.dtype)
                grown[:self.size] = target[:self.size]
                self.data[name] = target = grown
            target[self.size:self.size + m] = values
        self.size += m

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {name: values[:self.size] if self.size < len(values) else values
                for name, values in self.data.items() if name != self.counting}


def _counts(values: npt.NDArray[Any], start: int) -> bool:
    """``values`` are ``start``, ``start + 1``, ... (checked on the batch, already in memory)."""
    m = len(values)
    return m == 0 or (int(values[0]) == start and int(values[-1]) == start + m - 1
                      and bool(np.all(np.diff(values) == 1)))


def _maybe_seed_sql(find: frozenset[str]) -> str | None:
    """A SQL condition that holds for every row whose transaction hash, normalised (trimmed,
    lower-cased) and lower-cased, is one of ``find`` (and for a few more). Trimming and
    lower-casing leave digits as they are and make none, so the longest run of digits of a
    wanted hash is in the text as written: a cheap test, when the run is long enough to
    leave few candidates. Otherwise the wanted hash is inside the lower-cased text of a
    pure-ASCII hash, and a hash with other characters is always a candidate. None when
    there is nothing to look for, or too much (the store reads its hashes then)."""
    if not find or len(find) > _MOST_FOUND or not all(find):
        return None
    tests = []
    for w in sorted(find):
        run = max(re.findall("[0-9]+", w), key=len, default="")
        tests.append(f"contains(tx_hash, {_lit(run)})" if len(run) >= _RUN else
                     f"strlen(tx_hash) <> length(tx_hash) OR contains(lower(tx_hash), {_lit(w)})")
    return f"({' OR '.join(tests)})"


def _seed_positions(find: frozenset[str], candidates: list[tuple[int, str]],
                    rows: Ints | None) -> dict[str, list[int]]:
    """hash → positions (increasing) of the transfers whose hash is one of ``find``, from
    the row pass's candidates, compared as :meth:`TxHashStore.positions` compares
    (normalised as loaded, then lower-cased); ``rows``: the file row at each position (None:
    each position is its file row)."""
    if not candidates:
        return {}
    normal = _normal_hashes(pa.array([t for _, t in candidates], type=pa.string())).to_pylist()
    hits = {r: key for (r, _), h in zip(candidates, normal, strict=True)
            if (key := str(h).lower()) in find}
    if not hits:
        return {}
    found: dict[str, list[int]] = {}
    if rows is None:
        for r in sorted(hits):
            found.setdefault(hits[r], []).append(int(r))
        return found
    for p in np.flatnonzero(np.isin(rows, np.fromiter(hits, np.int64, len(hits)))).tolist():
        found.setdefault(hits[int(rows[p])], []).append(int(p))
    return found


def _fetch(con: duckdb.DuckDBPyConnection, columns: str, where: str = "_keep") -> pa.Table:
    """``_row`` and ``columns`` of the rows of ``std`` (kept ones), in file order."""
    return _in_row_order(_arrow(con, f"SELECT _row, {columns} FROM std WHERE {where}"))


def _in_row_order(table: pa.Table) -> pa.Table:
    """``table`` sorted by ``_row`` (as DuckDB returns it, unless a join moved rows)."""
    row = _ints(table["_row"])
    if bool(np.all(row[1:] > row[:-1])):
        return table
    return table.take(pa.array(np.argsort(row, kind="stable")))


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


@dataclass
class _Numbered:
    """What :func:`_file_address_ids` found: per column (sender, receiver) each file row's
    address id, the addresses by id, the file's rows, and whether some sender or receiver
    may be empty (null, or text that is empty or starts with a space or control character:
    the row pass leaves these columns to this check, :func:`_check` tells exactly)."""

    ids: list[Ints]
    addresses: npt.NDArray[np.object_]
    rows: int
    suspect: bool


def _as_text(chunk: pa.Array, path: Path, column: str, first_row: int) -> pa.Array:
    """``chunk`` (a column's values from row ``first_row`` on) as text; a value that is not
    UTF-8 text is refused with its row, as the other checks name theirs."""
    try:
        return chunk.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = chunk.dictionary_decode() if pa.types.is_dictionary(chunk.type) else chunk
        for i, value in enumerate(values.to_pylist()):
            try:
                if isinstance(value, bytes):
                    value.decode("utf-8")
                elif value is not None and not isinstance(value, str):
                    raise TypeError
            except (UnicodeDecodeError, TypeError):
                problem = f"{path}: row {first_row + i + 1}: {column} is not UTF-8 text"
                where = msg("error.tracefile.file_row", file=str(path)[:200],
                            row=str(first_row + i + 1))
                raise InputFileError(
                    f"{path}: 1 problem(s); nothing was loaded", problems=[problem],
                    problems_said=[msg("error.tracefile.at", where=where, problem=msg(
                        "error.tracefile.value.not_utf8", column=column[:80]))],
                    file=str(path),
                    says=msg("error.tracefile.problems", file=str(path)[:200], count="1",
                             first=msg("error.tracefile.at",
                                       where=msg("error.tracefile.row",
                                                 row=str(first_row + i + 1)),
                                       problem=msg("error.tracefile.value.not_utf8",
                                                   column=column[:80])))) from None
        raise InputFileError(f"{path}: {column} is not a text column; nothing was loaded",
                             file=str(path),
                             says=msg("error.tracefile.not_text_column", file=str(path)[:200],
                                      column=column[:80])) from None


_UNIFY = 8_000_000  # dictionary entries numbered together at least (bounds the memory held)


def _file_address_ids(path: Path, columns: tuple[str, str], stop: threading.Event
                      ) -> _Numbered | None:
    """:func:`_address_ids` for every row of a Parquet file, from the file's own dictionaries:
    each row group's sender and receiver columns are read dictionary-encoded (no string per
    row), and the row groups' dictionaries are unified a few at a time with the addresses
    seen so far (each row group's indices turned into numbers in order of first sight);
    then the distinct addresses alone are normalised and sorted, the same numbering as the
    SQL path, and each row's id is one look-up in that order. None when ``stop`` is set
    before the end (the file was refused meanwhile)."""
    file = pq.ParquetFile(str(path), read_dictionary=list(columns))
    known = pa.array([], type=pa.string())  # the addresses so far, in order of first sight
    pending: list[tuple[int, pa.DictionaryArray]] = []
    done: list[tuple[int, npt.NDArray[np.int32]]] = []  # (column, numbers in first sight)
    waiting = 0
    suspect = False

    def number() -> None:
        nonlocal known, pending, waiting
        # the known addresses first, so that they keep their numbers 0..len(known)-1
        first = pa.DictionaryArray.from_arrays(pa.array([], type=pa.int32()), known)
        unified = pa.chunked_array([first, *(chunk for _, chunk in pending)],
                                   type=first.type).unify_dictionaries()
        known = unified.chunk(0).dictionary
        for (k, _), chunk in zip(pending, unified.chunks[1:], strict=True):
            indices = chunk.indices.fill_null(0) if chunk.null_count else chunk.indices
            done.append((k, np.asarray(indices.to_numpy(zero_copy_only=False))))
        pending, waiting = [], 0

    first_row = 0
    for group in range(file.num_row_groups):
        if stop.is_set():
            return None
        table = file.read_row_group(group, columns=list(columns))
        table.validate(full=True)  # a corrupt page's indices past its dictionary: ArrowInvalid
        for k, name in enumerate(columns):
            at = first_row
            for chunk in table.column(name).chunks:
                if not (pa.types.is_dictionary(chunk.type)
                        and pa.types.is_string(chunk.type.value_type)):
                    chunk = pc.dictionary_encode(_as_text(chunk, path, name, at))
                at += len(chunk)
                suspect = suspect or chunk.null_count > 0 or (
                    len(chunk.dictionary) > 0 and pc.any(pc.less(chunk.dictionary, "!")).as_py())
                pending.append((k, chunk))
                waiting += len(chunk.dictionary)
        first_row += table.num_rows
        del table
        if waiting >= max(_UNIFY, len(known)):
            number()
    if pending:
        number()
    trimmed = pc.utf8_trim(known, characters=" ")
    normal = pc.if_else(pc.match_substring_regex(trimmed, f"^{_ETH_ADDRESS}$"),
                        pc.utf8_lower(trimmed), trimmed)
    # ids in the order of the normalised text (the raw text breaking ties), as the SQL's
    order = np.asarray(pc.sort_indices(pa.table({"a": normal, "x": known}),
                                       sort_keys=[("a", "ascending"), ("x", "ascending")]))
    names = np.asarray(normal.take(pa.array(order)).to_numpy(zero_copy_only=False),
                       dtype=object)
    new = np.r_[True, names[1:] != names[:-1]] if len(names) else np.zeros(0, dtype=bool)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.cumsum(new, dtype=np.int64) - 1
    n = file.metadata.num_rows
    ids = [np.empty(n, dtype=np.int64) for _ in columns]
    filled = [0] * len(columns)
    for k, indices in done:
        ids[k][filled[k]:filled[k] + len(indices)] = rank[indices]
        filled[k] += len(indices)
    return _Numbered(ids, names[new], n, suspect)


def _kept_ids(numbered: _Numbered, rows: _Rows
              ) -> tuple[tuple[Ints, Ints], npt.NDArray[np.object_]]:
    """The ids of the kept file rows ``rows``; when some rows are left out, only the
    addresses they use are numbered."""
    (src, dst), addresses = numbered.ids, numbered.addresses
    if len(rows) == numbered.rows:
        return (src, dst), addresses
    kept = rows.file_rows()
    src, dst = src[kept], dst[kept]
    used = np.zeros(len(addresses), dtype=np.bool_)
    used[src] = True
    used[dst] = True
    dense = np.cumsum(used, dtype=np.int64) - 1
    return (dense[src], dense[dst]), addresses[used]


def _distinct(keys: pa.Array) -> bool:
    return len(pc.unique(keys)) == len(keys)


class _TxHashes:
    """Transaction hashes, trimmed and lower-cased when hex, read from ``std`` when needed:
    all of them (``order`` given: the processing order of the kept rows) or a few rows."""

    def __init__(self, con: duckdb.DuckDBPyConnection, order: Ints | None, load: bool) -> None:
        self.con = con
        self.values: npt.NDArray[np.object_] | None = None
        if load:
            trimmed = _normal_hashes(_fetch(con, "tx_hash")["tx_hash"])
            values = np.asarray(trimmed.to_numpy(zero_copy_only=False), dtype=object)
            self.values = values if order is None else values[order]

    def all(self) -> npt.NDArray[np.object_]:
        assert self.values is not None
        return self.values

    def at(self, positions: Iterable[int], rows: _Rows) -> dict[int, str]:
        """position (in processing order) → hash."""
        wanted = sorted(set(positions))
        if self.values is not None:
            return {p: str(self.values[p]) for p in wanted}
        if not wanted:
            return {}
        by_row = {rows.file_row(p): p for p in wanted}
        found = self.con.execute(
            f"SELECT _row, {_normal_sql('tx_hash', _ETH_HASH)} FROM std "
            f"WHERE _row IN ({', '.join(map(str, by_row))})").fetchall()
        return {by_row[int(r)]: str(h) for r, h in found}


def _amount_arrays(con: duckdb.DuckDBPyConnection, value: Ints, fee: Ints,
                   big: npt.NDArray[np.bool_], order: Ints | None) -> tuple[Amounts, Amounts]:
    """Values and fees in processing order: the row pass's int64 when every amount and their
    total fit, else Python ints read again as digits."""
    found: list[Amounts] = []
    if not bool(big.any()) and _exact_sum(value) + _exact_sum(fee) <= INT64_MAX:
        found = [value, fee]
    else:
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
    problems: list[tuple[int, str, Message]] = []
    for i in wrong:
        j = i + 1
        other = inp.line(rows.file_row(i))
        if (block[i], txi[i], logi[i]) == (block[j], txi[j], logi[j]):
            problems.append((rows.file_row(j), f"duplicate: block {block[j]}, tx_index "
                             f"{txi[j]}, log_index {logi[j]} again (first on {other})",
                             said_duplicate((block[j], txi[j], logi[j]),
                                            inp.said_at(rows.file_row(i)))))
        else:
            problems.append((rows.file_row(j), f"out of order: block {block[j]}, tx_index "
                             f"{txi[j]}, log_index {logi[j]} comes after block {block[i]}, "
                             f"tx_index {txi[i]}, log_index {logi[i]} on {other}; sort the "
                             "file by (block, tx_index, log_index)",
                             said_out_of_order((block[j], txi[j], logi[j]),
                                               (block[i], txi[i], logi[i]),
                                               inp.said_at(rows.file_row(i)))))
    _raise(inp, problems)


def said_duplicate(at: tuple[Any, Any, Any], first: Message) -> Message:
    """``duplicate: block B, tx_index T, log_index L again (first on ...)``, as a catalog
    message (``first``: where, :meth:`_Input.said_at`)."""
    return msg("error.tracefile.order.duplicate", block=str(at[0]), tx_index=str(at[1]),
               log_index=str(at[2]), first=first)


def said_out_of_order(at: tuple[Any, Any, Any], before: tuple[Any, Any, Any],
                      other: Message) -> Message:
    """``out of order: ... comes after ... on ...``, as a catalog message."""
    return msg("error.tracefile.order.out_of_order", block=str(at[0]), tx_index=str(at[1]),
               log_index=str(at[2]), prev_block=str(before[0]), prev_tx_index=str(before[1]),
               prev_log_index=str(before[2]), prev=other)


def said_two_txs(block: Any, tx_index: Any, tx: str, other_tx: str, other: Message
                 ) -> Message:
    """``block B, tx_index T holds two transactions, X and Y (on ...)``, as a catalog
    message."""
    return msg("error.tracefile.order.two_txs", block=str(block), tx_index=str(tx_index),
               tx=tx[:100], other_tx=other_tx[:100], other=other)


def said_tx_two_places(tx: str, at: tuple[Any, Any], first: tuple[Any, Any], other: Message
                       ) -> Message:
    """``transaction X is at block B, tx_index T, but at block B', tx_index T' on ...``, as
    a catalog message."""
    return msg("error.tracefile.order.tx_two_places", tx=tx[:100], block=str(at[0]),
               tx_index=str(at[1]), other_block=str(first[0]), other_tx_index=str(first[1]),
               other=other)


def _check_unique(inp: _Input, rows: _Rows, text: _TxHashes) -> None:
    """In processing order: no two rows at one position, one transaction per (block,
    tx_index), and each transaction at one (block, tx_index)."""
    n = len(rows)
    if n < 2:
        return
    problems: list[tuple[int, str, Message]] = []
    same, clash, count = neighbours(rows.block, rows.tx_index, rows.log_index, rows.tx_key,
                                    MAX_PROBLEMS)
    for i in same:
        first, second = sorted((rows.file_row(i), rows.file_row(i + 1)))
        problems.append((second, f"duplicate: block {rows.block[i]}, tx_index "
                                f"{rows.tx_index[i]}, log_index {rows.log_index[i]} again "
                                f"(first on {inp.line(first)})",
                         said_duplicate((rows.block[i], rows.tx_index[i], rows.log_index[i]),
                                        inp.said_at(first))))
    _raise(inp, problems)
    # candidates by hash of the text as written, confirmed on the normalised text
    twice = repeated_keys(rows.block, rows.tx_index, rows.tx_key, count, MAX_PROBLEMS)
    pairs = [(int(i), int(i) + 1) for i in clash]
    if len(twice):  # a transaction hash at two places (or two hashes with one key)
        same_tx = (rows.block[1:] == rows.block[:-1]) & (
            rows.tx_index[1:] == rows.tx_index[:-1])
        starts = np.flatnonzero(np.r_[True, ~same_tx])
        for key in twice:
            at = starts[rows.tx_key[starts] == key]
            pairs += [(int(at[0]), int(p)) for p in at[1:]]
    if not pairs:
        return
    hashes = text.at([p for pair in pairs for p in pair], rows)
    for a, b in pairs[: len(clash)]:
        if hashes[a] != hashes[b]:
            problems.append((rows.file_row(b), f"block {rows.block[b]}, tx_index "
                             f"{rows.tx_index[b]} holds two transactions, {hashes[b]} and "
                             f"{hashes[a]} (on {inp.line(rows.file_row(a))})",
                             said_two_txs(rows.block[b], rows.tx_index[b], hashes[b],
                                          hashes[a], inp.said_at(rows.file_row(a)))))
    for a, b in pairs[len(clash):]:
        if hashes[a] == hashes[b]:
            first, later = sorted((a, b), key=lambda p: rows.file_row(p))
            problems.append((rows.file_row(later), f"transaction {hashes[a]} is at block "
                             f"{rows.block[later]}, tx_index {rows.tx_index[later]}, but at "
                             f"block {rows.block[first]}, tx_index {rows.tx_index[first]} on "
                             f"{inp.line(rows.file_row(first))}",
                             said_tx_two_places(
                                 hashes[a], (rows.block[later], rows.tx_index[later]),
                                 (rows.block[first], rows.tx_index[first]),
                                 inp.said_at(rows.file_row(first)))))
    _raise(inp, problems)


def _causal_log_index(rows: _Rows) -> Ints:
    """Within each transaction: rows paying into an address before rows paying out of it,
    else in file order (a cycle keeps file order). ``rows`` are in file order."""
    n = len(rows)
    logi = np.zeros(n, dtype=np.int64)
    if n == 0:
        return logi
    order = np.lexsort((rows.file_rows(), rows.tx_index, rows.block))
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
