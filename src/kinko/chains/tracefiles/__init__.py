"""Transfers from files into the trace arrays, the part a trace can reach, a synthetic chain.

A trace (:mod:`kinko.domain.trace.model`) runs over flat integer arrays: transfers in
processing order (block, tx_index, log_index), addresses factorised to ids ``0..n-1``, amounts
as integers in the asset's minor unit. This package makes those arrays from the files people
have, refusing what it cannot read exactly with ``file:line: what is wrong`` (an
:class:`~kinko.errors.InputFileError` listing every problem, never a traceback):

``csv`` / ``parquet``
    ``tx_hash,block,tx_index,log_index,from,to,value,fee`` (``log_index`` and ``fee`` may be
    absent: 0; ``timestamp`` and ``asset`` optional), **sorted** by (block, tx_index,
    log_index): a row out of order or at the position of the row before is refused. Amounts
    are whole numbers of at most 78 digits, any uint256 (text, int64 or decimal(38,0) in
    Parquet; never floats).
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
``nem``
    NIS1 transfer listings (``/account/transfers/all`` pages as NIS1 returns them; a file or a
    folder of them): XEM and every mosaic as assets (``nem:xem`` by default, ``asset=`` a
    mosaic ``namespace:name``), fees burned from the sender; see
    :mod:`~kinko.chains.tracefiles.nem`.
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

:func:`load_account_lazy` loads the same transfers with the hashes kept out of memory, in a
:class:`TxHashStore` (:mod:`~kinko.chains.tracefiles.hashes`): a sorted generic Parquet file's
own hash column, read in place, or else a temporary Parquet file of the normalised hashes in
file order, plus, only for the formats whose rows the loader sorts, the permutation from
processing order to file order (8 bytes a transfer). It finds the positions of given hashes
(``store.positions``: ``pyarrow.compute.is_in`` one row group at a time, the hits confirmed
in Python; hashes named to the loader with ``find=`` are found on its own pass over the file
and read nothing more) and gives the hashes of given positions (``store.at``: only the row
groups holding them are read), so ``kinko trace run`` resolves ``--seed-tx`` and writes
``flows.csv`` without a Python string per transfer; ``store.take(kept)`` follows
:func:`reduce_reachable`'s positions.

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

The modules: :mod:`~kinko.chains.tracefiles.account` (the account-model formats),
:mod:`~kinko.chains.tracefiles.utxo` (UTXO JSON lines), :mod:`~kinko.chains.tracefiles.reach`
(the reachable reduction), :mod:`~kinko.chains.tracefiles.synth` (the synthetic chain),
:mod:`~kinko.chains.tracefiles.hashes` (the hashes kept on disk); inside,
``_read`` opens and checks a file in DuckDB, ``_std`` turns a format's standard view into the
arrays (``_keys``: its uniqueness checks, compiled), ``_common`` holds what several of them
share.
"""

from pathlib import Path  # noqa: F401  (the example above uses it)

# __all__ is the public API, as before the split; the constants and type aliases the module
# had stay importable from here (outside __all__, as before), and two private names the tests
# use too.
from kinko.chains.tracefiles._common import INT64_MAX as INT64_MAX
from kinko.chains.tracefiles._common import MAX_PROBLEMS as MAX_PROBLEMS
from kinko.chains.tracefiles._common import SYNTH_CHUNK as SYNTH_CHUNK
from kinko.chains.tracefiles._common import Amounts as Amounts
from kinko.chains.tracefiles._common import Ints as Ints
from kinko.chains.tracefiles._std import _distinct as _distinct
from kinko.chains.tracefiles.account import (
    ACCOUNT_FORMATS,
    load_account,
    load_account_lazy,
    mftracer_labels,
)
from kinko.chains.tracefiles.hashes import TxHashStore
from kinko.chains.tracefiles.reach import MOST as MOST
from kinko.chains.tracefiles.reach import reduce_reachable, reduce_seeds
from kinko.chains.tracefiles.synth import SYNTH_ADDRESSES_MAX as SYNTH_ADDRESSES_MAX
from kinko.chains.tracefiles.synth import _synth_batches as _synth_batches
from kinko.chains.tracefiles.synth import (
    synth_account,
    synth_utxo,
    write_parquet,
    write_synth_parquet,
)
from kinko.chains.tracefiles.utxo import load_utxo

__all__ = [
    "ACCOUNT_FORMATS",
    "TxHashStore",
    "load_account",
    "load_account_lazy",
    "load_utxo",
    "mftracer_labels",
    "reduce_reachable",
    "reduce_seeds",
    "synth_account",
    "synth_utxo",
    "write_parquet",
    "write_synth_parquet",
]
