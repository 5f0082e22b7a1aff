"""Taint kernels for account-model chains (NEM, Ethereum): who holds how much stolen value.

Every address has a balance b (from 0) and a taint t ≤ b: how much of what it holds is stolen.
Transfers are replayed in order; each moves value v to its receiver and burns fee f, and the
policy decides how much of the value (and of the fee) is taint:

- ``poison``: an address that ever receives taint is poisoned; everything it sends afterwards
  is wholly tainted (value v, and the fee f burned tainted). Taint multiplies by design, so
  there is no conservation; ``held`` of a poisoned address is its whole balance.
- ``haircut``: taint spreads in proportion. The transfer carries ⌊v·t/b⌋ and burns ⌊f·t/b⌋;
  the rounding remainder stays with the sender. (Exactly: should that leave the sender with
  more taint than balance — possible by one unit when both v and f are non-zero — that unit
  is burned with the fee.) The products are exact in 128 bits, see :func:`mul_div_floor`.
- ``fifo`` / ``lifo``: every address holds an ordered sequence of lots, clean or tainted
  (Clayton's case, 1816; Anderson et al. 2016). A transfer takes its value, then its fee,
  from the oldest (FIFO) or newest (LIFO) lots; the receiver appends the pieces in the order
  they were taken. Adjacent lots of the same kind are merged, so the pieces of one transfer
  alternate between clean and tainted.

The common rules (the tests hold every policy to them):

- **Incomplete history.** A sender whose balance is below v + f is first topped up with clean
  money it is assumed to have had all along (for FIFO/LIFO: the oldest lot).
- **Seed transfers** (``seeds.transfers``): the whole value arrives at the receiver as taint.
  The sender is treated as for any transfer (its own taint, if any, leaves as usual); the
  taint this creates, v minus what the value would have carried anyway, is *seeded*.
- **Seed addresses** (``seeds.addresses``: address, position, amount), applied just before
  the transfer at that position (position = number of transfers: after the last one). With an
  amount A the address holds A of taint from then on: topped up with clean money to A if it
  holds less, then clean value is turned into taint until its taint is A (FIFO/LIFO: the
  newest clean units, as the stolen value is what arrived last). Without an amount the
  address is a *source*: from then on its whole balance is taint — what it holds at that
  point, and everything it receives or is topped up with later (the thief's own address).
  A seed address has ``hops`` 0 and ``first_tainted`` = its position; under poison it is
  poisoned whatever the amount.
- **Stops** (``stops``, per address: e.g. exchanges): taint arriving there is recorded as
  ``absorbed`` (and ``received``) and spreads no further; the value arrives clean.
  ``max_hops`` adds a horizon: ``hops`` is the smallest number of transfers through which
  taint reached an address (seed receivers 1); an address reached at ``max_hops`` absorbs like
  a stop. Hops only ever decrease, so an address that holds taint never becomes a stop later.
  A seed address that is a stop absorbs its seeded amount at once and is never a source.
- **Accounting.** ``received`` counts taint arriving by transfers (seed transfers included;
  taint created at a seed address is not "received"); ``sent`` counts taint leaving, fees'
  included; ``burned`` the fees' taint; ``seeded`` the taint the seeds created. For haircut,
  FIFO and LIFO: seeded = Σ held + burned + Σ absorbed, exactly.

Two implementations give identical results: a plain-Python reference (:func:`reference_kernel`,
exact with Python ints of any size, and the oracle of the tests) and compiled numba kernels
over int64 arrays, used when every amount — indeed the sum of all values, fees and seed
amounts, which bounds every balance — fits in int64. The compiled poison and haircut loops
read, for a clean transfer, two balances and a byte of flags per address. The compiled
FIFO/LIFO kernel keeps lots only for addresses that hold taint (a clean address is just its
balance), in a pool of preallocated arrays (doubled when it runs low) with per-address doubly
linked lists, so each transfer costs O(1) plus the lots it takes; one that takes the sender's
whole balance without a fee moves the whole list at once, O(1).

This module checks the input and picks the kernel. The kernels live beside it: the
reference in :mod:`kinko.domain.trace._reference`, the exact 128-bit arithmetic in
:mod:`kinko.domain.trace._int128`, the poison and haircut kernels in
:mod:`kinko.domain.trace._compiled`, the FIFO/LIFO lot pool in
:mod:`kinko.domain.trace._lots`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kinko.domain.trace._compiled import _haircut_kernel, _poison_kernel
from kinko.domain.trace._int128 import mul_div_floor
from kinko.domain.trace._lots import _lots_kernel
from kinko.domain.trace._reference import reference_kernel
from kinko.domain.trace.model import (
    ACCOUNT_POLICIES,
    INT64_MAX,
    AccountResult,
    AccountSeeds,
    AccountTransfers,
    Policy,
    read_only,
    whole_amounts,
)

__all__ = ["mul_div_floor", "reference_kernel", "trace_account"]

_NO_HORIZON = 2**62


def _ids(arr: Any, m: int, n_addr: int, name: str) -> npt.NDArray[np.int64]:
    out = np.asarray(arr)
    if out.shape != (m,) or out.dtype.kind not in "iu":
        raise ValueError(f"transfers.{name} must be {m} integer address ids")
    if m and (int(out.min()) < 0 or int(out.max()) >= n_addr):
        raise ValueError(f"transfers.{name} holds an address id outside 0..{n_addr - 1}")
    return out.astype(np.int64, copy=False)


def _fits_int64(value: npt.NDArray[np.int64], fee: npt.NDArray[np.int64], seeds: int) -> bool:
    """Σ value + Σ fee + seed amounts ≤ 2⁶³-1: every balance stays below it (all money
    enters by top-ups of at most v + f, or by seed amounts)."""
    approx = float(np.sum(value, dtype=np.float64)) + float(np.sum(fee, dtype=np.float64))
    if approx + seeds < 2.0**62:
        return True
    total = seeds
    for arr in (value, fee):  # exactly: 31-bit halves cannot overflow below 2³¹ rows
        total += (int(np.sum(arr >> 31, dtype=np.int64)) << 31) + int(
            np.sum(arr & 0x7FFFFFFF, dtype=np.int64))
    return total <= INT64_MAX


def _as_result(values: Any, big: bool) -> npt.NDArray[Any]:
    if isinstance(values, np.ndarray):
        return values
    if not big and all(-INT64_MAX <= v <= INT64_MAX for v in values):
        return np.array(values, dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def trace_account(transfers: AccountTransfers, seeds: AccountSeeds, policy: Policy, *,
                  stops: npt.NDArray[np.bool_] | None = None, max_hops: int | None = None,
                  compiled: bool | None = None) -> AccountResult:
    """Replay ``transfers`` from ``seeds`` under ``policy`` (poison, haircut, fifo, lifo).

    ``stops``: per address, taint arriving there is absorbed. ``max_hops``: addresses that
    many transfers from a seed absorb like stops (at least 0). ``compiled``: None runs the
    numba kernel when every amount and their sum fit in int64, else the exact Python
    reference; True insists on the compiled kernel (ValueError if the amounts do not fit);
    False runs the reference. Results are int64 arrays for int64 amounts, object arrays of
    Python ints otherwise. Raises ValueError on malformed input.
    """
    if policy not in ACCOUNT_POLICIES:
        raise ValueError(f"policy must be one of {', '.join(ACCOUNT_POLICIES)}, not {policy!r}")
    m = len(transfers)
    n_addr = int(np.asarray(transfers.addresses).shape[0])
    src = _ids(transfers.src, m, n_addr, "src")
    dst = _ids(transfers.dst, m, n_addr, "dst")
    value = whole_amounts(transfers.value, m, "transfers.value")
    fee = whole_amounts(transfers.fee, m, "transfers.fee")
    seed_tx = np.asarray(seeds.transfers)
    if seed_tx.shape != (m,) or seed_tx.dtype != np.bool_:
        raise ValueError(f"seeds.transfers must be {m} booleans")
    stop = np.zeros(n_addr, np.bool_) if stops is None else np.asarray(stops)
    if stop.shape != (n_addr,) or stop.dtype != np.bool_:
        raise ValueError(f"stops must be {n_addr} booleans, one per address")
    if max_hops is not None and (isinstance(max_hops, bool) or int(max_hops) < 0):
        raise ValueError(f"max_hops must be at least 0, not {max_hops!r}")
    horizon = _NO_HORIZON if max_hops is None else min(int(max_hops), _NO_HORIZON)
    seed_list: list[tuple[int, int, int | None]] = []
    for a, pos, amount in seeds.addresses:
        if not 0 <= int(a) < n_addr:
            raise ValueError(f"seed address id {a} is outside 0..{n_addr - 1}")
        if not 0 <= int(pos) <= m:
            raise ValueError(f"seed address position {pos} is outside 0..{m}")
        if amount is not None and (isinstance(amount, bool) or int(amount) < 0):
            raise ValueError(f"seed address amount {amount!r} is not a whole amount ≥ 0")
        seed_list.append((int(a), int(pos), None if amount is None else int(amount)))
    seed_list.sort(key=lambda s: s[1])  # stable: seeds at one position in the order given

    big = value.dtype == object or fee.dtype == object
    fits = not big and _fits_int64(value, fee, sum(s[2] or 0 for s in seed_list))
    if compiled is None:
        compiled = fits
    elif compiled and not fits:
        raise ValueError("the compiled kernel needs int64 amounts whose sum (values, fees and "
                         "seed amounts) fits in int64; use the reference kernel")

    if compiled:
        ro = read_only
        args = (ro(src), ro(dst), ro(value), ro(fee), ro(seed_tx), ro(stop),
                ro(np.array([s[0] for s in seed_list], dtype=np.int64)),
                ro(np.array([s[1] for s in seed_list], dtype=np.int64)),
                ro(np.array([-1 if s[2] is None else s[2] for s in seed_list],
                            dtype=np.int64)),
                np.int64(horizon), n_addr)
        if policy == "poison":
            out = _poison_kernel(*args)
        elif policy == "haircut":
            out = _haircut_kernel(*args)
        else:
            out = _lots_kernel(*args, policy == "lifo")
    else:
        out = reference_kernel(policy, src.tolist(), dst.tolist(),
                               [int(v) for v in value], [int(v) for v in fee],
                               seed_tx.tolist(), stop.tolist(), seed_list, horizon, n_addr)
    received, sent, held, absorbed, first, hops, flow, burned, seeded = out
    return AccountResult(
        policy=policy,
        received=_as_result(received, big), sent=_as_result(sent, big),
        held=_as_result(held, big), absorbed=_as_result(absorbed, big),
        first_tainted=np.asarray(first, dtype=np.int64), hops=np.asarray(hops, dtype=np.int64),
        flow=_as_result(flow, big), burned=int(burned), seeded=int(seeded))
