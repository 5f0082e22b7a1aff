"""Taint kernel for UTXO chains (Bitcoin): how much of each output is stolen.

A transaction consumes whole outputs (its inputs, in order) and creates new ones (its outputs,
in order) plus a fee; Σ inputs = Σ outputs + fee. Taint T entering a transaction through its
inputs is shared out among its outputs and the fee by the policy; the fee's share is *burned*
(it would follow the fee to the miner's coinbase, which is not traced: BlockSci's
``taint_fee=False``). Every output's taint is an exact integer:

- ``poison``: any tainted input taints every output wholly (and the fee: burned).
- ``haircut``: output i gets T·o_i/(Σo + fee) and the fee the rest, so the fee takes its
  share (this is BlockSci's haircut "without fee taint": the fee's share is dropped, not passed
  to the miner; BlockSci's regtest scenario gives a4 = 99,986,666 and a6 = 99,985,999 sat).
  Outputs are rounded down, ⌊T·o_i/(Σo+fee)⌋; the rounding remainder is burned with the fee
  as far as the fee's value allows (the fee's taint never exceeds the fee); any rest (only
  when the fee is tiny) goes one unit each to the outputs with the largest fractional parts,
  earlier outputs first on ties. Each output is therefore within one unit of its exact share
  and conservation is exact.
- ``fifo``: the transaction's value is the inputs' value ranges laid end to end, in input
  order — and within an input, its own clean and tainted segments in their order (an input
  may be partly tainted by an earlier split). The outputs take consecutive ranges in output
  order, the fee the last range (Anderson et al. 2016, "Bitcoin Redux"; Tironsakkul et al.
  2019). Each output keeps the order of its segments, so a later FIFO split of it is exact.
- ``lifo``: the same mapping from the other end of the inputs: the transaction is read as a
  momentary account that received its inputs in order and now pays its outputs in order, then
  the fee, newest value first — the last input's last segment goes to the first output
  (Tironsakkul et al. 2019 define LIFO as the reverse of FIFO's input order; this is the same
  rule as the account-model LIFO). Pieces keep the order in which they were taken.
- ``tiho`` (taint in, highest out; Tironsakkul et al. 2019): the tainted value T fills the
  outputs from the highest value down (earlier output first among equal values); whatever the
  outputs cannot hold is burned with the fee.

Seeds: ``seeds.transactions`` marks every output of a transaction as stolen,
``seeds.outputs`` single outputs (seed addresses resolved by the engine); a seeded output is
wholly tainted, and the taint this creates (its value minus what it would have carried) is
*seeded*. Seeded outputs' addresses get ``hops`` 1; an output of a transaction with tainted
inputs is one hop further than the nearest of their addresses. Stops (per address) absorb the
taint of outputs paid to them: it is recorded (``absorbed``, ``received``, the output's
``output_taint``) and the output is spent as clean. Addresses reached at ``max_hops`` absorb
like stops. Conservation (haircut, fifo, lifo, tiho): seeded = Σ held + burned + Σ absorbed,
where ``held`` is the taint in an address's unspent outputs.

Two implementations give identical results: a compiled numba kernel over int64 arrays
(:mod:`kinko.domain.trace._utxo_compiled`), used when every amount, and the sum of all of
them, fits in int64 (satoshi always do), and the plain-Python :func:`reference_utxo`, exact
with Python ints of any size and the oracle of the property tests. Amounts may be int64 or
object arrays; results use the same dtype. The input is checked vectorised before either
runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kinko.domain.trace._utxo_compiled import POLICY_CODES, _utxo_kernel
from kinko.domain.trace.model import (
    INT64_MAX,
    UTXO_POLICIES,
    Policy,
    UtxoResult,
    UtxoSeeds,
    UtxoTransactions,
    read_only,
    whole_amounts,
)

__all__ = ["reference_utxo", "trace_utxo"]

_NO_HORIZON = 2**62

Segments = list[tuple[int, int]]  # (kind: 1 tainted / 0 clean, amount), in order


def _cut(sequence: Segments, sizes: Sequence[int]) -> list[Segments]:
    """Consecutive ranges of ``sequence`` of the given sizes (adjacent pieces of one kind
    merged); the sizes sum to at most the sequence's total."""
    out: list[Segments] = []
    pos = 0
    left = sequence[0][1] if sequence else 0
    for size in sizes:
        pieces: Segments = []
        while size > 0:
            while left == 0:
                pos += 1
                left = sequence[pos][1]
            kind = sequence[pos][0]
            piece = min(left, size)
            if pieces and pieces[-1][0] == kind:
                pieces[-1] = (kind, pieces[-1][1] + piece)
            else:
                pieces.append((kind, piece))
            left -= piece
            size -= piece
        out.append(pieces)
    return out


def _tainted(pieces: Segments) -> int:
    return sum(n for kind, n in pieces if kind == 1)


def _haircut(total: int, outs: Sequence[int], fee: int) -> list[int]:
    """⌊T·o_i/D⌋ per output, D = Σo + fee; the remainder burned up to the fee's value, any rest
    one unit each to the largest fractional parts (earlier outputs first)."""
    denom = sum(outs) + fee
    shares = [total * o // denom for o in outs]
    rest = total - sum(shares) - fee
    if rest > 0:
        order = sorted(range(len(outs)), key=lambda i: (-(total * outs[i] % denom), i))
        for i in order[:rest]:
            shares[i] += 1
    return shares


def _tiho(total: int, outs: Sequence[int]) -> list[int]:
    shares = [0] * len(outs)
    for i in sorted(range(len(outs)), key=lambda i: (-outs[i], i)):
        shares[i] = min(total, outs[i])
        total -= shares[i]
    return shares


def _exact_sum(values: npt.NDArray[Any]) -> int:
    if values.dtype == object:
        return int(sum(int(v) for v in values))
    return (int(np.sum(values >> 32)) << 32) + int(np.sum(values & 0xFFFFFFFF))


def _index(arr: Any, size: int, name: str) -> npt.NDArray[np.int64]:
    out = np.asarray(arr)
    if out.shape != (size,) or out.dtype.kind not in "iu":
        raise ValueError(f"transactions.{name} must be {size} integers")
    return out.astype(np.int64, copy=False)


def _starts(arr: Any, n_tx: int, total: int, name: str) -> npt.NDArray[np.int64]:
    out = _index(arr, n_tx + 1, name)
    if out[0] != 0 or out[-1] != total or bool(np.any(np.diff(out) < 0)):
        raise ValueError(f"transactions.{name} must rise from 0 to {total}")
    return out


def _as_result(values: Any, big: bool) -> npt.NDArray[Any]:
    if isinstance(values, np.ndarray) and values.dtype == np.int64 and not big:
        return np.asarray(values)
    values = [int(v) for v in values]
    if not big and all(v <= INT64_MAX for v in values):
        return np.array(values, dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _sums(values: npt.NDArray[Any], starts: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """Per transaction, the sum of its slice of ``values`` (0 for an empty slice)."""
    n = starts.shape[0] - 1
    if values.dtype == object:
        return np.array([sum(values[starts[i]:starts[i + 1]], 0) for i in range(n)],
                        dtype=object)
    total = np.concatenate([np.zeros(1, np.int64), np.cumsum(values, dtype=np.int64)])
    found: npt.NDArray[np.int64] = total[starts[1:]] - total[starts[:-1]]
    return found


def trace_utxo(txs: UtxoTransactions, seeds: UtxoSeeds, policy: Policy, *,
               stops: npt.NDArray[np.bool_] | None = None,
               max_hops: int | None = None, compiled: bool | None = None) -> UtxoResult:
    """Follow taint through ``txs`` (in order) from ``seeds`` under ``policy``.

    ``stops``: per address, taint paid to it is absorbed. ``max_hops``: addresses that many
    hops from a seed absorb like stops (at least 0). ``compiled``: None runs the numba kernel
    when every amount and their sum fit in int64, else the exact Python reference; True
    insists on the compiled kernel (ValueError if the amounts do not fit); False runs the
    reference. Raises ValueError on malformed input: an input spending a later or unknown
    output, an output spent twice, an input whose value or address differs from the output it
    spends, or a transaction whose inputs do not equal its outputs plus its fee.
    """
    if policy not in UTXO_POLICIES:
        raise ValueError(f"policy must be one of {', '.join(UTXO_POLICIES)}, not {policy!r}")
    n_tx = len(txs)
    n_addr = int(np.asarray(txs.addresses).shape[0])
    n_in = int(np.asarray(txs.in_output).shape[0])
    n_out = int(np.asarray(txs.out_value).shape[0])
    in_start = _starts(txs.in_start, n_tx, n_in, "in_start")
    out_start = _starts(txs.out_start, n_tx, n_out, "out_start")
    in_output = _index(txs.in_output, n_in, "in_output")
    in_address = _index(txs.in_address, n_in, "in_address")
    out_address = _index(txs.out_address, n_out, "out_address")
    for name, ids in (("in_address", in_address), ("out_address", out_address)):
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n_addr):
            raise ValueError(f"transactions.{name} holds an address id outside 0..{n_addr - 1}")
    in_value = whole_amounts(txs.in_value, n_in, "transactions.in_value")
    out_value = whole_amounts(txs.out_value, n_out, "transactions.out_value")
    fee = whole_amounts(txs.fee, n_tx, "transactions.fee")
    big = object in (in_value.dtype, out_value.dtype, fee.dtype)
    fits = not big and _exact_sum(in_value) + _exact_sum(out_value) + _exact_sum(fee) \
        <= INT64_MAX
    if not fits:  # the reference: Python ints throughout
        in_value, out_value, fee = (_as_object(a) for a in (in_value, out_value, fee))
    spender_tx = np.repeat(np.arange(n_tx, dtype=np.int64), np.diff(in_start))
    earlier = out_start[spender_tx]  # the spender's first output
    wrong = np.flatnonzero((in_output < -1) | (in_output >= earlier))
    if wrong.size:
        q = int(wrong[0])
        raise ValueError(f"input {q} (transaction {txs.txid[spender_tx[q]]}) does not spend an "
                         "output of an earlier transaction")
    spending = in_output >= 0
    spent = in_output[spending]
    if spent.size and int(np.bincount(spent, minlength=n_out).max()) > 1:
        raise ValueError("an output is spent twice")
    if bool(np.any(out_address[spent] != in_address[spending])):
        raise ValueError("an input's address differs from the output it spends")
    tx_seed = np.asarray(seeds.transactions)
    out_seed = np.asarray(seeds.outputs)
    if tx_seed.shape != (n_tx,) or tx_seed.dtype != np.bool_:
        raise ValueError(f"seeds.transactions must be {n_tx} booleans")
    if out_seed.shape != (n_out,) or out_seed.dtype != np.bool_:
        raise ValueError(f"seeds.outputs must be {n_out} booleans")
    stop = np.zeros(n_addr, np.bool_) if stops is None else np.asarray(stops)
    if stop.shape != (n_addr,) or stop.dtype != np.bool_:
        raise ValueError(f"stops must be {n_addr} booleans, one per address")
    if max_hops is not None and (isinstance(max_hops, bool) or int(max_hops) < 0):
        raise ValueError(f"max_hops must be at least 0, not {max_hops!r}")
    horizon = _NO_HORIZON if max_hops is None else min(int(max_hops), _NO_HORIZON)
    differs = np.flatnonzero(in_value[spending] != out_value[spent])
    if differs.size:
        q = int(np.flatnonzero(spending)[differs[0]])
        i, j = int(spender_tx[q]), int(in_output[q])
        raise ValueError(f"transaction {txs.txid[i]}: input {q - int(in_start[i])} is worth "
                         f"{in_value[q]}, the output it spends {out_value[j]}")
    ins, outs = _sums(in_value, in_start), _sums(out_value, out_start) + fee
    unbalanced = np.flatnonzero((np.diff(in_start) > 0) & (ins != outs))
    if unbalanced.size:
        i = int(unbalanced[0])
        raise ValueError(f"transaction {txs.txid[i]}: inputs {ins[i]} ≠ outputs "
                         f"{outs[i] - fee[i]} + fee {fee[i]}")

    if compiled is None:
        compiled = fits
    elif compiled and not fits:
        raise ValueError("the compiled kernel needs int64 amounts whose sum fits in int64; "
                         "use the reference kernel")
    if compiled:
        ro = read_only
        found = _utxo_kernel(POLICY_CODES[policy], ro(in_start), ro(in_output), ro(in_value),
                             ro(in_address), ro(out_start), ro(out_value), ro(out_address),
                             ro(fee), ro(tx_seed), ro(out_seed), ro(stop), np.int64(horizon),
                             n_addr)
    else:
        found = reference_utxo(policy, in_start.tolist(), in_output.tolist(),
                               [int(v) for v in in_value], in_address.tolist(),
                               out_start.tolist(), [int(v) for v in out_value],
                               out_address.tolist(), [int(v) for v in fee], tx_seed.tolist(),
                               out_seed.tolist(), stop.tolist(), horizon, n_addr)
    output_taint, received, held, absorbed, first, hops, burned, seeded = found
    return UtxoResult(
        policy=policy, output_taint=_as_result(output_taint, big),
        received=_as_result(received, big), held=_as_result(held, big),
        absorbed=_as_result(absorbed, big), first_tainted=np.asarray(first, dtype=np.int64),
        hops=np.asarray(hops, dtype=np.int64), burned=int(burned), seeded=int(seeded))


def _as_object(values: npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    if values.dtype == object:
        return values
    out = np.empty(values.shape[0], dtype=object)
    out[:] = [int(v) for v in values]
    return out


def reference_utxo(policy: Policy, in_start: Sequence[int], spends: Sequence[int],
                   in_value: Sequence[int], in_addr: Sequence[int], out_start: Sequence[int],
                   out_value: Sequence[int], out_addr: Sequence[int], fee: Sequence[int],
                   seed_tx: Sequence[bool], seed_out: Sequence[bool], stop: Sequence[bool],
                   horizon: int, n_addr: int) -> tuple[Any, ...]:
    """The plain-Python kernel (Python ints, any size) on checked input: the oracle of the
    compiled one. Returns lists output_taint (per output), received, held, absorbed, first,
    hops (per address) and ints burned, seeded."""
    n_tx, n_out = len(fee), len(out_value)
    # What each output carries: taint arrived (reported), taint it will pass on when spent
    # (0 at stops and once spent), and for FIFO/LIFO its segments when it holds taint.
    output_taint = [0] * n_out
    live = [0] * n_out
    segments: dict[int, Segments] = {}
    received = [0] * n_addr
    absorbed = [0] * n_addr
    first = [-1] * n_addr
    hops = [-1] * n_addr
    burned = seeded = 0
    lots = policy in ("fifo", "lifo")

    for i in range(n_tx):
        ins = range(in_start[i], in_start[i + 1])
        outs = range(out_start[i], out_start[i + 1])
        values = [out_value[j] for j in outs]
        tainted_ins = [q for q in ins if spends[q] >= 0 and live[spends[q]] > 0]
        seeded_outs = [j for j in outs if seed_tx[i] or seed_out[j]]
        if not tainted_ins and not seeded_outs:
            continue
        total = sum(live[spends[q]] for q in tainted_ins)
        hop = 1 + min((hops[in_addr[q]] for q in tainted_ins), default=0)
        pieces: list[Segments] = [[(0, v)] for v in values]
        if total == 0:
            shares = [0] * len(values)
        elif policy == "poison":
            shares = list(values)
            pieces = [[(1, v)] for v in values]
        elif policy == "haircut":
            shares = _haircut(total, values, fee[i])
        elif policy == "tiho":
            shares = _tiho(total, values)
        else:
            sequence: Segments = []
            for q in ins:
                own = segments.get(spends[q], [(0, in_value[q])])
                sequence.extend(own)
            if policy == "lifo":
                sequence.reverse()
            pieces = _cut(sequence, values)
            shares = [_tainted(p) for p in pieces]
        for q in tainted_ins:  # spent: its taint now lives in the outputs and the fee
            live[spends[q]] = 0
            segments.pop(spends[q], None)
        if total:
            burned += fee[i] if policy == "poison" else total - sum(shares)
        for n, j in enumerate(outs):
            taint = shares[n]
            h = hop
            if seed_tx[i] or seed_out[j]:
                seeded += values[n] - taint
                taint = values[n]
                pieces[n] = [(1, taint)]
                h = 1
            if taint == 0:
                continue
            a = out_addr[j]
            output_taint[j] = taint
            received[a] += taint
            if first[a] < 0:
                first[a] = i
            hops[a] = h if hops[a] < 0 else min(hops[a], h)
            if stop[a] or hops[a] >= horizon:
                absorbed[a] += taint
                continue
            live[j] = taint
            if lots:
                segments[j] = [p for p in pieces[n] if p[1] > 0]

    held = [0] * n_addr
    for j, taint in enumerate(live):
        if taint:
            held[out_addr[j]] += taint
    return output_taint, received, held, absorbed, first, hops, burned, seeded
