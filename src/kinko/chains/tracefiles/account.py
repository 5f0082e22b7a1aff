"""The account-model formats: generic CSV and Parquet, ethereum-etl, MFTracer.

Each format reads its file with :mod:`~kinko.chains.tracefiles._read`, defines the standard
view ``std`` over it (its columns mapped, its amounts and fees computed, its order made
explicit) and hands it to :func:`~kinko.chains.tracefiles._std._load_std`; the formats
themselves are described in :mod:`kinko.chains.tracefiles`. :func:`load_account` chooses the
format, :func:`mftracer_labels` reads the labels of an MFTracer file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from kinko.chains.tracefiles._common import (
    _ETH_ADDRESS,
    _ETH_HASH,
    MAX_PROBLEMS,
    _connect,
    _ident,
    _lit,
)
from kinko.chains.tracefiles._read import (
    _amount_sql,
    _bad_sql,
    _check,
    _Field,
    _header,
    _Input,
    _int_sql,
    _normal_sql,
    _open,
    _raise,
    _usd_cents_sql,
)
from kinko.chains.tracefiles._std import Hashes, InStore, Loaded, _load_std
from kinko.chains.tracefiles.hashes import TxHashStore
from kinko.domain.messages import Message, msg
from kinko.domain.trace.model import AccountTransfers
from kinko.errors import InputFileError

ACCOUNT_FORMATS = ("csv", "parquet", "ethereum-etl", "mftracer", "nem")


def _cut(value: str) -> str:
    """A value from the file as an error names it: at most 80 characters."""
    return value if len(value) <= 80 else value[:79] + "…"


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
    chain-sized inputs where a Python string per transfer would not fit in memory
    (:func:`load_account_lazy` keeps them on disk instead).
    """
    return _load(path, fmt, asset, with_hashes)[0]


def load_account_lazy(path: Path, fmt: str, *, asset: str | None = None,
                      find: Iterable[str] = ()) -> tuple[AccountTransfers, TxHashStore]:
    """:func:`load_account`, the transaction hashes kept in a :class:`TxHashStore` (a
    temporary Parquet file, or the input Parquet file itself) rather than as a Python string
    per transfer: the transfers' ``tx_hash`` is empty (length 0); ``store.positions(hashes)``
    finds transfers by hash and ``store.at(positions)`` gives their hashes, the same strings
    :func:`load_account` holds. ``find``: the hashes (trimmed, lower-cased) the caller will
    look for, found while the file is read (``store.positions`` of them reads nothing)."""
    transfers, store = _load(path, fmt, asset, InStore(frozenset(find)))
    assert store is not None
    return transfers, store


def _load(path: Path, fmt: str, asset: str | None, hashes: Hashes) -> Loaded:
    path = Path(path)
    if fmt not in ACCOUNT_FORMATS:
        raise InputFileError(f"{path}: unknown format {fmt!r}; expected one of "
                             f"{', '.join(ACCOUNT_FORMATS)}", file=str(path),
                             says=msg("error.tracefile.format", file=str(path)[:200],
                                      format=str(fmt)[:80], formats=", ".join(ACCOUNT_FORMATS)))
    con = _connect()
    try:
        if fmt == "ethereum-etl":
            return _load_etl(con, path, asset, hashes)
        if fmt == "mftracer":
            return _load_mftracer(con, path, hashes)
        if fmt == "nem":
            return _load_nem(con, path, asset, hashes)
        return _load_generic(con, path, fmt == "parquet", asset, hashes)
    except (duckdb.Error, pa.ArrowInvalid) as exc:
        if isinstance(exc, _OUR_MISTAKES):
            raise
        raise _unreadable(path, exc) from None
    finally:
        con.close()


# DuckDB errors that are kinko's SQL going wrong, not the file: left to end as a defect
_OUR_MISTAKES = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
                 duckdb.InternalException, duckdb.ConnectionException)


def _unreadable(path: Path, exc: Exception) -> InputFileError:
    """A file whose header read well but whose data does not (a Parquet page corrupted or
    cut, a compressed block that does not decompress): what the reader said, on one line."""
    said = " ".join(str(exc).split())[:300]
    return InputFileError(f"{path}: cannot read: {said}", file=str(path),
                          says=msg("error.file.cannot_read", file=str(path)[:200],
                                   reason=said))


def _load_generic(con: duckdb.DuckDBPyConnection, path: Path, parquet: bool,
                  asset: str | None, hashes: Hashes) -> Loaded:
    inp = _open(con, path, "raw", _GENERIC, parquet)
    keep = _asset_filter(con, inp, "asset", asset, lower=False)
    # a Parquet file's senders and receivers are checked from its dictionaries, as they are
    # numbered (``_file_address_ids``), not row by row in SQL
    checked = [f for f in _GENERIC if not (parquet and not inp.empty and f.kind == "address")]
    con.execute(
        f"CREATE VIEW std AS SELECT _row, {_bad_sql(inp, checked)} AS _bad, {keep} AS _keep, "
        f"tx_hash, {_int_sql(inp, 'block')} AS block, {_int_sql(inp, 'tx_index')} AS tx_index, "
        f"{_int_sql(inp, 'log_index')} AS log_index, \"from\" AS src, \"to\" AS dst, "
        f"{_amount_sql(inp, 'value')} AS value, {_amount_sql(inp, 'fee')} AS fee FROM raw")
    columns = (inp.label("tx_hash"), inp.label("from"), inp.label("to")) if parquet else None
    return _load_std(con, inp, _GENERIC, presorted=True, hashes=hashes,
                     parquet_columns=columns)


def _load_nem(con: duckdb.DuckDBPyConnection, path: Path, asset: str | None,
              hashes: Hashes) -> Loaded:
    """NIS1 listings (:mod:`~kinko.chains.tracefiles.nem`) as the standard CSV, then read
    like one (every check of the generic reader applies to what the listings said)."""
    from kinko.chains.tracefiles.nem import write_standard_csv

    with tempfile.TemporaryDirectory(prefix="kinko-nem-") as folder:
        standard = Path(folder) / "nem-transfers.csv"
        wanted = write_standard_csv(path, asset, standard)
        return _load_generic(con, standard, False, wanted, hashes)


def _asset_filter(con: duckdb.DuckDBPyConnection, inp: _Input, key: str, asset: str | None,
                  *, lower: bool) -> str:
    """A condition keeping one asset; refuse a file of several assets without a choice."""
    if inp.empty:
        return "true"
    if not inp.has(key):
        if asset is not None:
            raise InputFileError(f"{inp.name}: no {key} column to choose {asset!r} by",
                                 file=inp.name,
                                 says=msg("error.tracefile.no_asset_column",
                                          file=inp.name[:200], column=key, asset=asset[:80]))
        return "true"
    value = _normal_sql(_ident(key), _ETH_ADDRESS) if lower else f"trim({_ident(key)})"
    found = [str(r[0]) for r in con.execute(
        f"SELECT DISTINCT {value} AS a FROM {inp.table} ORDER BY a LIMIT 11").fetchall()]
    shown = ", ".join(_cut(f) for f in found[:10]) + (", ..." if len(found) > 10 else "")
    if asset is None:
        if len(found) > 1:
            raise InputFileError(f"{inp.name}: transfers of several assets ({shown}); choose "
                                 "one with --asset (or --token)", file=inp.name,
                                 says=msg("error.tracefile.several_assets",
                                          file=inp.name[:200], found=shown[:1000]))
        return "true"
    wanted = asset.strip().lower() if lower else asset.strip()
    keep = f"coalesce({value} = {_lit(wanted)}, false)"
    if not con.execute(f"SELECT count(*) FROM {inp.table} WHERE {keep}").fetchall()[0][0]:
        raise InputFileError(f"{inp.name}: no transfers of {_cut(asset)} (found: "
                             f"{shown or 'none'})",
                             file=inp.name,
                             says=msg("error.tracefile.no_transfers", file=inp.name[:200],
                                      asset=asset[:80],
                                      found=shown[:1000] or msg("error.tracefile.none")))
    return keep


def _load_etl(con: duckdb.DuckDBPyConnection, path: Path, token: str | None,
              hashes: Hashes) -> Loaded:
    if path.is_dir():
        tokens, transactions = path / "token_transfers.csv", path / "transactions.csv"
        if token is not None or not transactions.exists():
            if not tokens.exists():
                raise InputFileError(f"{path}: no token_transfers.csv or transactions.csv "
                                     "(an ethereum-etl export)", file=str(path),
                                     says=msg("error.tracefile.no_etl", file=str(path)[:200]))
            return _load_etl_tokens(con, tokens, transactions, token, hashes)
        return _load_etl_transactions(con, transactions, path / "receipts.csv", hashes)
    empty = path.is_file() and path.stat().st_size == 0  # no rows: either file, both empty
    if (empty and token is not None) or (
            not empty and "token_address" in {h.lower() for h in _header(path)}):
        return _load_etl_tokens(con, path, None, token, hashes)
    if token is not None:
        raise InputFileError(f"{path}: not a token_transfers.csv; cannot choose token {token}",
                             file=str(path),
                             says=msg("error.tracefile.not_token_transfers",
                                      file=str(path)[:200], token=token[:80]))
    return _load_etl_transactions(con, path, None, hashes)


def _load_etl_transactions(con: duckdb.DuckDBPyConnection, path: Path,
                           receipts: Path | None, hashes: Hashes) -> Loaded:
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
        _once_each(con, rec, "transaction_hash")
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


def _once_each(con: duckdb.DuckDBPyConnection, side: _Input, key: str) -> None:
    """Refuse a file read beside the transfers (receipts.csv, transactions.csv) that names a
    transaction twice: which of its rows the transfer joins would be a guess (the join gave
    the transfer twice, or ended as a defect)."""
    h = _normal_sql(_ident(key), _ETH_HASH)
    found = con.execute(
        f"SELECT _row, h, first FROM (SELECT _row, {h} AS h, min(_row) OVER (PARTITION BY {h})"
        f" AS first FROM {side.table}) WHERE _row <> first ORDER BY _row "
        f"LIMIT {MAX_PROBLEMS}").fetchall()
    _raise(side, [(int(r), f"transaction {t} again (first on {side.line(int(first))})",
                   msg("error.tracefile.tx_again", tx=str(t)[:80],
                       first=side.said_at(int(first)))) for r, t, first in found])


def _load_etl_tokens(con: duckdb.DuckDBPyConnection, path: Path, transactions: Path | None,
                     token: str | None, hashes: Hashes) -> Loaded:
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
        _once_each(con, txs, "hash")
        join = (f"LEFT JOIN txs t ON {_normal_sql('t.hash', _ETH_HASH)} = "
                f"{_normal_sql('raw.transaction_hash', _ETH_HASH)}")
        tx_index, source = _int_sql(txs, "transaction_index", "t."), "raw"
        lost = con.execute(
            f"SELECT raw._row, raw.transaction_hash FROM raw {join} WHERE {keep} "
            f"AND t.hash IS NULL ORDER BY raw._row LIMIT {MAX_PROBLEMS}").fetchall()
        _raise(inp, [(int(r), f"transaction {h} is not in {transactions}",
                      msg("error.tracefile.tx_not_in", tx=str(h)[:80],
                          file=str(transactions)[:200])) for r, h in lost])
    con.execute(
        f"CREATE VIEW std AS SELECT raw._row, {_bad_sql(inp, _ETL_TOKENS)} AS _bad, "
        f"{keep} AS _keep, raw.transaction_hash AS tx_hash, {block} AS block, "
        f"{tx_index} AS tx_index, {log} AS log_index, raw.from_address AS src, "
        f"raw.to_address AS dst, {_amount_sql(inp, 'value', 'raw.')} AS value, "
        f"CAST(0 AS BIGINT) AS fee FROM {source} {join}")
    return _load_std(con, inp, _ETL_TOKENS, presorted=False, hashes=hashes)


def _load_mftracer(con: duckdb.DuckDBPyConnection, path: Path,
                   hashes: Hashes) -> Loaded:
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
    _raise(inp, [(int(r), f"duplicate of {inp.line(int(f))}",
                  msg("error.tracefile.duplicate", first=inp.said_at(int(f))))
                 for r, f in twice]
           + [(int(r), f"transaction in block {b}, but in block {fb} on {inp.line(int(f))}",
               msg("error.tracefile.tx_blocks", block=str(b)[:80], other=str(fb)[:80],
                   first=inp.said_at(int(f)))) for r, b, fb, f in moved])


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
    problems: list[tuple[int, str, Message]] = []
    for address, label, row in rows:
        if labels.setdefault(address, label) != label:
            problems.append((int(row), f"{address} is labelled {label!r}, but "
                             f"{labels[address]!r} on {inp.line(seen[address])}",
                             msg("error.tracefile.labelled_twice",
                                 address=str(address)[:120], label=str(label)[:80],
                                 other=str(labels[address])[:80],
                                 first=inp.said_at(seen[address]))))
        seen.setdefault(address, int(row))
    _raise(inp, problems)
    return labels
