"""What the modules of :mod:`kinko.chains.tracefiles` share: the array types, the limits, the
patterns of Ethereum hex addresses and hashes, and DuckDB connections with quoting for SQL
text and the way results come back as Arrow tables and int64 arrays."""

from __future__ import annotations

from typing import cast

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

Ints = npt.NDArray[np.int64]
Amounts = npt.NDArray[np.int64] | npt.NDArray[np.object_]

MAX_PROBLEMS = 20
INT64_MAX = 2**63 - 1
_ETH_ADDRESS = "0[xX][0-9a-fA-F]{40}"
_ETH_HASH = "0[xX][0-9a-fA-F]{64}"
SYNTH_CHUNK = 1_000_000  # transfers per batch, per Parquet row group, per slice of a check


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(key: str) -> str:
    return '"' + key.replace('"', '""') + '"'


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    relation = con.sql(sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return cast(pa.Table, fetch())


def _ints(column: pa.ChunkedArray | pa.Array) -> Ints:
    return np.asarray(column.to_numpy(), dtype=np.int64)
