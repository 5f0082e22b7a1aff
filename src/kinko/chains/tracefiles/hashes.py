"""Transaction hashes kept out of memory: :class:`TxHashStore`.

A Python string per transfer costs about 100 bytes (50M transfers: 5 GB), an Arrow string
array still ``4 + len`` bytes a row (70 for Ethereum hashes: 3.5 GB at 50M), while a trace
needs the hashes only twice: to find the positions of the ``--seed-tx`` hashes, and to write
the hashes of the tainted transfers (``flows.csv``). So :func:`load_account_lazy` streams the
hashes of the kept rows, normalised exactly as :func:`load_account` normalises them, from
DuckDB to a temporary Parquet file (one row group per :data:`SYNTH_CHUNK` rows, in file
order) and keeps in memory only the permutation from processing order to file order, and
only when the format sorts the rows itself (ethereum-etl, MFTracer; 8 bytes a row; a sorted
generic CSV or Parquet needs none). Lookups read one row group at a time:
:meth:`TxHashStore.positions` tests each group with ``pyarrow.compute.is_in`` (lower-cased)
and confirms the few hits in Python as :func:`kinko.services.trace.resolve_seeds` compares
them (hashes the loader was asked to find are noted on its own pass over the file, and
found without reading it again: :meth:`TxHashStore.note`); :meth:`TxHashStore.at` takes
the wanted rows of the groups that hold them. The
temporary folder is removed by :meth:`TxHashStore.close` or when the store is collected.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from kinko.chains.tracefiles._common import _ETH_HASH, SYNTH_CHUNK, Ints, _ints, _lit


def _normal_hashes(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Trimmed, and lower-cased when an Ethereum hex hash (as the loaded ``tx_hash``)."""
    trimmed = pc.utf8_trim_whitespace(column)
    lowered = pc.utf8_lower(trimmed)
    if not pc.all(pc.equal(lowered, trimmed)).as_py():
        hexy = pc.match_substring_regex(trimmed, f"^{_ETH_HASH}$")
        trimmed = pc.if_else(hexy, lowered, trimmed)
    return trimmed


_SCHEMA = pa.schema([("h", pa.string())])
_READERS = min(4, os.cpu_count() or 1)  # row groups read at once


def _sorted_unique(values: Ints) -> Ints:
    """``np.unique`` by sorting (numpy's hashing unique is slow on millions of int64), and
    free when the values already rise (positions of tainted transfers do)."""
    if values.size < 2 or bool(np.all(values[1:] > values[:-1])):
        return values
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


class TxHashStore:
    """The transaction hashes of loaded transfers, in a temporary Parquet file.

    ``order``: processing position → index in the file (None: the same). Positions are those
    of the transfers :func:`load_account_lazy` returned; :meth:`take` gives the store of a
    subset (the positions ``kept`` by :func:`~kinko.chains.tracefiles.reduce_reachable`)."""

    def __init__(self, path: Path, size: int, order: Ints | None,
                 owner: TxHashStore | None = None, column: str = "h",
                 owned: bool = True) -> None:
        self.path = path
        self.size = size
        self.order = order
        self.column = column  # the hashes' column in the file
        self.owned = owned  # a temporary file of this store (else the user's own file)
        self._owner = owner  # keeps the file of a parent store alive
        self._groups: list[tuple[int, int]] | None = None
        self._looked_for: frozenset[str] = frozenset()  # hashes found while loading:
        self._found: dict[str, list[int]] = {}  # their positions (none: not in the file)

    @classmethod
    def of_file(cls, path: Path, column: str, rows: Ints | None) -> TxHashStore:
        """The hashes in column ``column`` of the Parquet file the transfers were read from,
        in file order (``rows``: the file row of each transfer, when not all rows are kept):
        nothing is copied, and the file is never removed."""
        size = pq.ParquetFile(str(path)).metadata.num_rows if rows is None else len(rows)
        return cls(Path(path), size, rows, column=column, owned=False)

    @classmethod
    def write(cls, con: duckdb.DuckDBPyConnection, order: Ints | None, size: int
              ) -> TxHashStore:
        """Stream ``tx_hash`` of the kept rows of the view ``std`` (file order) to a file."""
        folder = Path(tempfile.mkdtemp(prefix="kinko-txhashes-"))
        try:
            return cls._write(con, order, size, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    @classmethod
    def _write(cls, con: duckdb.DuckDBPyConnection, order: Ints | None, size: int,
               folder: Path) -> TxHashStore:
        path = folder / "h.parquet"
        ordered, last, written = True, -1, 0
        relation = con.sql("SELECT _row, tx_hash FROM std WHERE _keep")
        reader = (getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch)(
            SYNTH_CHUNK)
        raw = folder / "raw.parquet"
        with pq.ParquetWriter(str(raw), pa.schema([("_row", pa.int64()), ("h", pa.string())])
                              ) as writer:
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                rows = _ints(batch.column(0))
                ordered = ordered and rows[0] > last and bool(np.all(rows[1:] > rows[:-1]))
                last = int(rows[-1])
                writer.write_batch(pa.record_batch(
                    [pa.array(rows), _normal_hashes(batch.column(1).cast(pa.string()))],
                    names=["_row", "h"]), row_group_size=SYNTH_CHUNK)
                written += batch.num_rows
        if written != size:
            raise AssertionError(f"{written} hashes for {size} transfers")
        sort = "" if ordered else " ORDER BY _row"
        con.execute(f"COPY (SELECT h FROM read_parquet({_lit(str(raw))}){sort}) TO "
                    f"{_lit(str(path))} (FORMAT parquet, ROW_GROUP_SIZE {SYNTH_CHUNK})")
        raw.unlink()
        store = cls(path, size, order)
        weakref.finalize(store, shutil.rmtree, str(folder), True)
        return store

    def close(self) -> None:
        """Remove the file now (a store taken from this one stops working too)."""
        if self._owner is None:
            if self.owned:
                shutil.rmtree(self.path.parent, ignore_errors=True)
        else:
            self._owner.close()

    def __len__(self) -> int:
        return self.size

    def take(self, kept: Ints) -> TxHashStore:
        """The store of the transfers at positions ``kept`` (in that order)."""
        kept = np.asarray(kept, dtype=np.int64)
        order = kept if self.order is None else self.order[kept]
        if self.order is None and len(kept) == self.size and \
                bool(np.array_equal(kept, np.arange(self.size))):
            return self
        return TxHashStore(self.path, len(kept), order, owner=self._owner or self,
                           column=self.column, owned=self.owned)

    def _row_groups(self) -> list[tuple[int, int]]:
        """(first index, row count) of each row group of the file."""
        if self._groups is None:
            meta = pq.ParquetFile(str(self.path)).metadata
            groups, start = [], 0
            for g in range(meta.num_row_groups):
                count = meta.row_group(g).num_rows
                groups.append((start, count))
                start += count
            self._groups = groups
        return self._groups

    def _read(self, file: pq.ParquetFile, group: int) -> pa.ChunkedArray:
        """Row group ``group``'s hashes, normalised as :func:`load_account` normalises them
        (the temporary file holds them normalised already)."""
        return self._normal(file.read_row_group(group, columns=[self.column]).column(0))

    def _normal(self, column: pa.ChunkedArray) -> pa.ChunkedArray:
        return column if self.owned else _normal_hashes(column.cast(pa.string()))

    def _taken(self, group: int, rows: Ints) -> pa.ChunkedArray:
        """The hashes at ``rows`` of row group ``group``, normalised (only those rows are):
        the file opened for this call alone, so that threads may read groups at once."""
        file = pq.ParquetFile(str(self.path))
        column = file.read_row_group(group, columns=[self.column], use_threads=False)
        return self._normal(column.column(0).take(pa.array(rows)))

    def at(self, positions: Sequence[int] | npt.ArrayLike) -> list[str]:
        """The hashes of the transfers at ``positions`` (in that order)."""
        return [str(h) for h in self.at_arrow(positions).to_pylist()]

    def at_arrow(self, positions: Sequence[int] | npt.ArrayLike) -> pa.Array:
        """:meth:`at` as an Arrow string array (no Python string per hash)."""
        wanted = np.asarray(positions, dtype=np.int64).reshape(-1)
        if wanted.size == 0:
            return pa.array([], type=pa.string())
        if int(wanted.min()) < 0 or int(wanted.max()) >= self.size:
            raise IndexError("position out of range")
        index = wanted if self.order is None else self.order[wanted]
        unique = _sorted_unique(index)  # the row groups' hits follow one another
        jobs: list[tuple[int, Ints]] = []
        for g, (start, count) in enumerate(self._row_groups()):
            lo, hi = np.searchsorted(unique, [start, start + count])
            if hi > lo:
                jobs.append((g, unique[lo:hi] - start))
        # the row groups are decoded in parallel (Parquet decoding leaves the GIL)
        with ThreadPoolExecutor(_READERS, thread_name_prefix="kinko-hashes") as pool:
            parts = list(pool.map(lambda job: self._taken(*job), jobs))
        values = pa.concat_arrays([c for p in parts for c in
                                   (p.chunks if isinstance(p, pa.ChunkedArray) else [p])])
        return values.take(pa.array(np.searchsorted(unique, index)))

    def note(self, looked_for: Iterable[str], found: dict[str, list[int]]) -> None:
        """Remember the positions of hashes the loader looked for on its pass over the file
        (``found``: those it found), so that :meth:`positions` of them reads nothing."""
        self._looked_for = frozenset(looked_for)
        self._found = {k: list(v) for k, v in found.items()}

    def positions(self, wanted: Iterable[str]) -> dict[str, list[int]]:
        """hash → positions (increasing) of the transfers whose hash, lower-cased, is one of
        ``wanted`` (given lower-case); hashes not found are left out."""
        keys = {w for w in wanted}
        if not keys or self.size == 0:
            return {}
        if keys <= self._looked_for:  # found while loading
            return {k: list(v) for k, v in self._found.items() if k in keys}
        value_set = pa.array(sorted(keys), type=pa.string())
        hits: dict[int, str] = {}  # index in the file → hash lower-cased
        file = pq.ParquetFile(str(self.path))
        for g, (start, _count) in enumerate(self._row_groups()):
            column = self._read(file, g)
            mask = pc.is_in(pc.utf8_lower(column), value_set=value_set)
            at = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
            if at.size == 0:
                continue
            for i, h in zip(at.tolist(), column.take(pa.array(at)).to_pylist(), strict=True):
                key = str(h).lower()
                if key in keys:  # confirmed as the services compare
                    hits[start + int(i)] = key
        if not hits:
            return {}
        index = np.fromiter(hits, dtype=np.int64, count=len(hits))
        if self.order is None:
            chosen = index[(index < self.size)]
            where = chosen
        else:
            where = np.flatnonzero(np.isin(self.order, index))
            chosen = self.order[where]
        found: dict[str, list[int]] = {}
        pairs = sorted(zip(where.tolist(), chosen.tolist(), strict=True))
        for position, at in pairs:
            found.setdefault(hits[int(at)], []).append(int(position))
        return found
