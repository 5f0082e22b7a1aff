"""From a format's standard view ``std`` to :class:`~kinko.domain.trace.model.AccountTransfers`.

Each format defines the view ``std`` over its input: ``_row``, ``_bad`` (a value of the row is
wrong), ``_keep`` (the row is of the chosen asset), ``tx_hash``, ``block``, ``tx_index``,
``log_index``, ``src``, ``dst`` (text as in the file), ``value``, ``fee`` (BIGINT or digits).
:func:`_load_std` checks the rows, fetches them a few columns at a time, numbers the
addresses, puts the transfers in processing order (or checks that the file already is),
refuses two transfers at one position and a transaction at two, and makes the amount arrays
(int64 when every amount and their total fit, else Python ints). A file that lists
a transaction's rows in no fixed order (MFTracer) gets them ordered so that a payment
into an address comes before the payment out of it (:func:`_causal_log_index`).

Strings never cross into Python per row: the row pass returns integers and 64-bit hashes of
the strings; the distinct addresses are normalised and numbered once, and each row's hash is
looked up among theirs (exactly: when two distinct addresses share a hash, DuckDB joins on
the text instead).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

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
)
from kinko.chains.tracefiles._read import _check, _Field, _Input, _normal_sql, _raise
from kinko.chains.tracefiles.hashes import TxHashStore, _normal_hashes
from kinko.domain.trace.model import AccountTransfers
from kinko.errors import InputFileError

Hashes = bool | Literal["store"]  # all as Python strings, none, or in a TxHashStore
Loaded = tuple[AccountTransfers, TxHashStore | None]


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
              presorted: bool, hashes: Hashes, causal: bool = False,
              parquet_columns: tuple[str, str, str] | None = None) -> Loaded:
    """Check, fetch, order, factorise: the standard view ``std`` as :class:`AccountTransfers`
    (with a :class:`TxHashStore` when ``hashes`` is ``"store"``: ``tx_hash`` is then empty).

    Columns are fetched a few at a time and turned into numpy arrays at once, so memory holds
    the arrays plus one query's result, not every column twice. ``parquet_columns`` (the
    Parquet file's transaction hash, sender and receiver columns, for a file read in its own
    order) lets the addresses be numbered from the file's dictionaries
    (:func:`_address_ids_parquet`) and the hashes be read from the file itself when asked
    for (:meth:`TxHashStore.of_file`), rather than copied."""
    first = _fetch(con, "_bad, block, tx_index, log_index", "_keep OR _bad")
    if pc.any(first["_bad"]).as_py():
        _check(con, inp, fields)
        raise InputFileError(f"{inp.name}: some values are wrong", file=inp.name)
    row, block, tx_index, log_index = (_ints(first[c]) for c in
                                       ("_row", "block", "tx_index", "log_index"))
    del first
    if parquet_columns is not None and presorted and not inp.empty:
        (src, dst), addresses = _address_ids_parquet(inp, parquet_columns[1:], row)
    else:
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
    everything = hashes is True
    text = _TxHashes(con, position if everything else None, everything)
    _check_unique(inp, rows, text)
    store: TxHashStore | None = None
    if hashes == "store":
        if parquet_columns is not None and presorted and not inp.empty:
            whole = len(rows.row) == 0 or (int(rows.row[-1]) == len(rows.row) - 1)
            store = TxHashStore.of_file(inp.path, parquet_columns[0],
                                        None if whole else rows.row.copy())
        else:
            store = TxHashStore.write(con, position, len(rows.row))
    value, fee = _amount_arrays(con, position)
    tx_hash = (text.all() if everything else np.empty(0, dtype=object) if store is not None
               else np.full(len(rows.row), "", dtype=object))
    return AccountTransfers(
        src=rows.src, dst=rows.dst, value=value, fee=fee, block=rows.block,
        tx_index=rows.tx_index, log_index=rows.log_index, tx_hash=tx_hash,
        addresses=addresses), store


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


def _address_ids_parquet(inp: _Input, columns: tuple[str, str], rows: Ints
                         ) -> tuple[tuple[Ints, Ints], npt.NDArray[np.object_]]:
    """:func:`_address_ids` for a Parquet file read in file order (``rows``: the file rows
    kept), from the file's own dictionaries: each row group's sender and receiver columns are
    read dictionary-encoded (no string per row); only the row groups' dictionaries are
    hashed together, normalised and sorted (the same numbering as the SQL path), and each
    row's id is one look-up in its row group's small map."""
    chunks: list[list[pa.DictionaryArray]] = [[], []]
    file = pq.ParquetFile(str(inp.path), read_dictionary=list(columns))
    for group in range(file.num_row_groups):
        table = file.read_row_group(group, columns=list(columns))
        for k, name in enumerate(columns):
            for chunk in table.column(name).chunks:
                if not (pa.types.is_dictionary(chunk.type)
                        and pa.types.is_string(chunk.type.value_type)):
                    chunk = pc.dictionary_encode(chunk.cast(pa.string()))
                chunks[k].append(chunk)
    every = chunks[0] + chunks[1]
    if every:
        encoded = pc.dictionary_encode(pa.chunked_array([c.dictionary for c in every],
                                                        type=pa.string())).combine_chunks()
        dictionary = encoded.dictionary
        global_id = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64)
    else:
        dictionary, global_id = pa.array([], pa.string()), np.zeros(0, np.int64)
    trimmed = pc.utf8_trim(dictionary, characters=" ")
    normal = pc.if_else(pc.match_substring_regex(trimmed, f"^{_ETH_ADDRESS}$"),
                        pc.utf8_lower(trimmed), trimmed)
    # ids in the order of the normalised text (the raw text breaking ties), as the SQL's
    order = np.asarray(pc.sort_indices(pa.table({"a": normal, "x": dictionary}),
                                       sort_keys=[("a", "ascending"), ("x", "ascending")]))
    names = np.asarray(normal.take(pa.array(order)).to_numpy(zero_copy_only=False),
                       dtype=object)
    new = np.r_[True, names[1:] != names[:-1]] if len(names) else np.zeros(0, dtype=bool)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.cumsum(new, dtype=np.int64) - 1
    found = []
    offset = 0
    for part in (chunks[0], chunks[1]):
        ids = []
        for chunk in part:
            local = rank[global_id[offset:offset + len(chunk.dictionary)]]
            offset += len(chunk.dictionary)
            ids.append(local[np.asarray(chunk.indices.to_numpy(zero_copy_only=False))])
        every_row = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        found.append(every_row if len(rows) == len(every_row) else every_row[rows])
    addresses = names[new]
    if len(rows) != file.metadata.num_rows:  # some rows left out: number only those used
        used = np.zeros(len(addresses), dtype=np.bool_)
        for ids_ in found:
            used[ids_] = True
        dense = np.cumsum(used, dtype=np.int64) - 1
        return (dense[found[0]], dense[found[1]]), addresses[used]
    return (found[0], found[1]), addresses


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
