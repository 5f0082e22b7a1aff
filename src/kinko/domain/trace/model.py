"""What a trace works on and what it finds, as flat arrays.

The engine (``kinko.chains.tracefiles`` and ``kinko.services.trace``) turns a file or a
chain into these records; the kernels (:mod:`kinko.domain.trace.account`,
:mod:`kinko.domain.trace.utxo`) only ever see integers: addresses are factorised to ids
``0..n-1`` (``addresses[id]`` is the text), transfers are in processing order.

Amounts are integers in the asset's minor unit. Arrays of amounts are ``int64`` when every
value fits (satoshi, micro-XEM, token units: the compiled kernels run), and ``object`` arrays
of Python ``int`` otherwise (wei beyond 2⁶³: the exact reference kernels run). Results use
the same dtype as the input amounts.

Semantics (the tests hold the kernels to these):

- Account model: each address has a balance b (from 0) and a taint t. A transfer of value v
  and fee f from x first tops x up with clean money if b_x < v + f (incomplete history),
  then moves v to the receiver and burns f. ``poison``: once an address holds taint, every
  later transfer from it is wholly tainted (v; and f burned tainted). ``haircut``: the
  transfer carries ⌊v·t_x/b_x⌋ of taint and burns ⌊f·t_x/b_x⌋ (the rounding remainder stays
  with x, so conservation is exact). ``fifo``/``lifo``: each address holds an ordered
  sequence of lots (clean or tainted); the value, then the fee, is taken from the oldest
  (FIFO) or newest (LIFO) lots; the receiver appends the pieces in the order taken.
- Seeds: a seed transfer's whole value arrives at the receiver as taint (its sender is not
  tainted by it); a seed address holds ``amount`` of taint (None: its whole balance) from its
  seed position on.
- Stops: taint arriving at a stop address is absorbed there (recorded per address) and
  never spreads; addresses at ``max_hops`` from a seed are treated as stops ("horizon").
- Conservation (haircut, fifo, lifo, tiho): seeded = held + burned + absorbed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ACCOUNT_POLICIES",
    "UTXO_POLICIES",
    "AccountResult",
    "AccountSeeds",
    "AccountTransfers",
    "Policy",
    "Reduced",
    "UtxoResult",
    "UtxoSeeds",
    "UtxoTransactions",
    "whole_amounts",
]

Policy = Literal["poison", "haircut", "fifo", "lifo", "tiho"]
ACCOUNT_POLICIES: tuple[Policy, ...] = ("poison", "haircut", "fifo", "lifo")
UTXO_POLICIES: tuple[Policy, ...] = ("poison", "haircut", "fifo", "lifo", "tiho")

Ints = npt.NDArray[np.int64]
Amounts = npt.NDArray[np.int64] | npt.NDArray[np.object_]
INT64_MAX = 2**63 - 1


def whole_amounts(arr: Any, size: int, field: str) -> npt.NDArray[Any]:
    """``arr`` as the kernels take amounts: ``int64`` when every value fits, else an object
    array of Python ints; never negative. ``field`` names the column in errors
    (``transfers.value``)."""
    out = np.asarray(arr)
    if out.shape != (size,):
        raise ValueError(f"{field} must have one amount per row ({size})")
    if out.dtype.kind in "iu":
        if size and out.dtype.kind == "u" and int(out.max()) > INT64_MAX:
            out = np.array([int(v) for v in out], dtype=object)
        else:
            out = out.astype(np.int64, copy=False)
            if size and int(out.min()) < 0:
                raise ValueError(f"{field} holds a negative amount")
            return out
    if out.dtype != object:
        raise ValueError(f"{field} must hold integers, not {out.dtype}")
    for v in out:
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise ValueError(f"{field} holds {v!r}, not a whole amount ≥ 0")
    return out


def read_only(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A view of ``arr`` the compiled kernels may not write to. Their inputs arrive writable
    or not (a Parquet file's columns are read-only), and numba types an array by its
    writability too: each kind would compile every kernel again (seconds each); as
    read-only views they compile once."""
    view = arr.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True)
class AccountTransfers:
    """Transfers of an account-model chain, sorted by (block, tx_index, log_index)."""

    src: Ints  # address id of the sender
    dst: Ints  # address id of the receiver
    value: Amounts
    fee: Amounts  # 0 where the input has none
    block: Ints
    tx_index: Ints
    log_index: Ints  # 0 where the input has none
    tx_hash: npt.NDArray[np.object_]  # str
    addresses: npt.NDArray[np.object_]  # id → address text

    def __len__(self) -> int:
        return int(self.src.shape[0])


@dataclass(frozen=True)
class AccountSeeds:
    transfers: npt.NDArray[np.bool_]  # per transfer: its whole value is stolen
    # (address id, position of the first transfer the taint applies to, amount or None)
    addresses: tuple[tuple[int, int, int | None], ...] = ()


@dataclass(frozen=True)
class AccountResult:
    policy: Policy
    received: Amounts  # per address: taint received
    sent: Amounts  # per address: taint sent (fees' taint included)
    held: Amounts  # per address: taint held at the end
    absorbed: Amounts  # per address: taint absorbed at a stop (0 elsewhere)
    first_tainted: Ints  # per address: position of the first transfer that tainted it, or -1
    hops: Ints  # per address: transfers from a seed to it, or -1 (seed receivers: 1)
    flow: Amounts  # per transfer: taint it carried
    burned: int  # fees' taint
    seeded: int


@dataclass(frozen=True)
class UtxoTransactions:
    """Bitcoin-like transactions in order; inputs and outputs flattened (CSR)."""

    txid: npt.NDArray[np.object_]  # str
    block: Ints
    in_start: Ints  # transaction i's inputs are in_start[i]:in_start[i+1]
    in_output: Ints  # the spent output's global index, or -1 (outside the data: clean)
    in_value: Amounts
    in_address: Ints
    out_start: Ints  # transaction i's outputs are out_start[i]:out_start[i+1]
    out_value: Amounts
    out_address: Ints
    fee: Amounts
    addresses: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return int(self.block.shape[0])


@dataclass(frozen=True)
class UtxoSeeds:
    transactions: npt.NDArray[np.bool_]  # per transaction: every output is stolen
    outputs: npt.NDArray[np.bool_]  # per output: wholly stolen (seed addresses resolved)


@dataclass(frozen=True)
class UtxoResult:
    policy: Policy
    output_taint: Amounts  # per output
    received: Amounts  # per address
    held: Amounts  # per address: taint in its unspent outputs
    absorbed: Amounts  # per address (stops)
    first_tainted: Ints  # per address: transaction position, or -1
    hops: Ints
    burned: int
    seeded: int


@dataclass(frozen=True)
class Reduced:
    """What an engine that keeps the transfers elsewhere (Spark) hands back for the kernel:
    the transfers a trace can need (positions ``kept`` of those read), their addresses
    numbered ``0..k-1`` in the order of the ids read (``ids``: dense id → id read), a
    function giving the hashes of positions of ``transfers``, and figures of the work."""

    transfers: AccountTransfers
    kept: Ints
    ids: Ints
    hashes_of: Callable[[Ints], Any]
    stats: dict[str, int] = field(default_factory=dict)  # e.g. the reduction's rounds
