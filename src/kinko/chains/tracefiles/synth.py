"""A reproducible heavy-tailed synthetic account-model chain, in memory or streamed to Parquet.

:func:`synth_account` makes the chain as an Arrow table in the generic format (Zipf-like
senders and receivers, lognormal values and fees), all vectorised numpy;
:func:`write_synth_parquet` streams the same chain to a file batch by batch, in the memory of
one batch, and :func:`write_parquet` writes any transfers table in row groups of
:data:`~kinko.chains.tracefiles.SYNTH_CHUNK` transfers. :func:`synth_utxo` makes a valid
UTXO chain (compiled with numba: each spend depends on what is unspent at that point).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from numba import njit

from kinko.atomic import replacing
from kinko.chains.tracefiles._common import SYNTH_CHUNK
from kinko.domain.trace._compiled import grown
from kinko.domain.trace.model import UtxoTransactions

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


# the most addresses a synthetic chain has: ``from`` and ``to`` index them in 32 bits
SYNTH_ADDRESSES_MAX = 2**31 - 1

_SYNTH_SCHEMA = pa.schema([
    ("tx_hash", pa.string()), ("block", pa.int64()), ("tx_index", pa.int64()),
    ("log_index", pa.int64()), ("from", pa.dictionary(pa.int32(), pa.string())),
    ("to", pa.dictionary(pa.int32(), pa.string())), ("value", pa.int64()), ("fee", pa.int64()),
])


def _synth_batches(n_transfers: int, n_addresses: int, seed: int,
                   chunk: int = SYNTH_CHUNK) -> Iterator[pa.RecordBatch]:
    """The synthetic chain in record batches of ``chunk`` transfers; the numbering of blocks,
    transactions and logs carries over from one batch to the next."""
    if n_transfers < 0 or not 2 <= n_addresses <= SYNTH_ADDRESSES_MAX or seed < 0:
        raise ValueError("need n_transfers >= 0, 2 <= n_addresses < 2**31 and seed >= 0")
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
    in the memory of one batch; returns the number of transfers written. The file is written
    beside ``path`` and renamed over it when whole: one stopped half-way leaves no part."""
    batches = _synth_batches(n_transfers, n_addresses, seed)
    first = next(batches, None)  # the counts checked before any file is made
    written = 0
    with replacing(path) as tmp, pq.ParquetWriter(str(tmp), _plain(_SYNTH_SCHEMA),
                                                  dictionary_pagesize_limit=64 << 20) as writer:
        for batch in itertools.chain([] if first is None else [first], batches):
            writer.write_batch(_plain_batch(batch), row_group_size=SYNTH_CHUNK)
            written += batch.num_rows
    return written


@njit(cache=True)
def _utxo_structure(n_tx: int, n_addr: int, seed: int):  # type: ignore[no-untyped-def]
    """A random valid UTXO chain: each transaction spends 1-3 (now and then up to 20) random
    unspent outputs and pays 1-3 (now and then up to 40) outputs; every 50th transaction,
    and any when too few outputs are unspent, is a coinbase minting 50·10⁸. Addresses are
    drawn Zipf-like (rank k with weight about k^-1.1, here by inverse transform)."""
    np.random.seed(seed)
    in_start = np.zeros(n_tx + 1, np.int64)
    out_start = np.zeros(n_tx + 1, np.int64)
    cap_in, cap_out = 3 * n_tx + 16, 3 * n_tx + 16
    in_output = np.empty(cap_in, np.int64)
    in_value = np.empty(cap_in, np.int64)
    in_address = np.empty(cap_in, np.int64)
    out_value = np.empty(cap_out, np.int64)
    out_address = np.empty(cap_out, np.int64)
    fee = np.zeros(n_tx, np.int64)
    pool = np.empty(cap_out, np.int64)  # unspent outputs
    n_pool = 0
    n_in = 0
    n_out = 0
    for i in range(n_tx):
        k_in = 1 + np.random.randint(0, 3) if np.random.random() > 0.02 else \
            1 + np.random.randint(0, 20)
        coinbase = i % 50 == 0 or n_pool < 4 * k_in
        total = 0
        if coinbase:
            total = 5_000_000_000
        else:
            for _ in range(k_in):
                at = np.random.randint(0, n_pool)
                j = pool[at]
                n_pool -= 1
                pool[at] = pool[n_pool]
                if n_in == in_output.shape[0]:
                    size = 2 * n_in
                    in_output = grown(in_output, size)
                    in_value = grown(in_value, size)
                    in_address = grown(in_address, size)
                in_output[n_in] = j
                in_value[n_in] = out_value[j]
                in_address[n_in] = out_address[j]
                total += out_value[j]
                n_in += 1
            fee[i] = min(total, 200 + np.random.randint(0, 5000))
        in_start[i + 1] = n_in
        k_out = 1 + np.random.randint(0, 3) if np.random.random() > 0.01 else \
            1 + np.random.randint(0, 40)
        rest = total - fee[i]
        for n in range(k_out):
            if n_out == out_value.shape[0]:
                size = 2 * n_out
                out_value = grown(out_value, size)
                out_address = grown(out_address, size)
                pool = grown(pool, size)
            v = rest if n == k_out - 1 else np.int64(rest * np.random.random())
            rest -= v
            out_value[n_out] = v
            rank = int(n_addr * np.random.random() ** 8)  # a few addresses take most
            out_address[n_out] = (rank * 2654435761) % n_addr
            pool[n_pool] = n_out
            n_pool += 1
            n_out += 1
        out_start[i + 1] = n_out
    return (in_start, in_output[:n_in].copy(), in_value[:n_in].copy(),
            in_address[:n_in].copy(), out_start, out_value[:n_out].copy(),
            out_address[:n_out].copy(), fee)


def synth_utxo(n_tx: int, n_addresses: int, seed: int) -> UtxoTransactions:
    """A reproducible synthetic UTXO chain of ``n_tx`` transactions (for benchmarks and
    tests): valid (each input spends an earlier unspent output, once, with its value and
    address; inputs = outputs + fee), about 2 inputs and 2 outputs a transaction, compiled
    with numba so millions of transactions take seconds."""
    if n_tx < 1 or n_addresses < 1:
        raise ValueError("need n_tx >= 1 and n_addresses >= 1")
    (in_start, in_output, in_value, in_address, out_start, out_value, out_address,
     fee) = _utxo_structure(n_tx, n_addresses, seed)
    return UtxoTransactions(
        txid=np.array([f"t{i:x}" for i in range(n_tx)], dtype=object),
        block=np.arange(n_tx, dtype=np.int64) // 1000, in_start=in_start,
        in_output=in_output, in_value=in_value, in_address=in_address, out_start=out_start,
        out_value=out_value, out_address=out_address, fee=fee,
        addresses=np.array([f"u{a:x}" for a in range(n_addresses)], dtype=object))
