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
linked lists, so each transfer costs O(1) plus the lots it takes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from kinko.domain.trace.model import (
    ACCOUNT_POLICIES,
    AccountResult,
    AccountSeeds,
    AccountTransfers,
    Policy,
)

__all__ = ["mul_div_floor", "reference_kernel", "trace_account"]

_INT64_MAX = 2**63 - 1
_NO_HORIZON = 2**62

# ---------------------------------------------------------------------------------------------
# Exact ⌊a·c/d⌋ in int64 when a·c needs up to 126 bits (a, c < 2⁶³), through 32-bit limbs and
# the two-digit long division of Hacker's Delight (divlu). Every constant is uint64: numba
# turns uint64 mixed with a signed integer into float64.

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_B32 = np.uint64(1 << 32)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U64 = np.uint64(64)
_NLZ_STEPS = (
    (np.uint64(0x00000000FFFFFFFF), np.uint64(32)),
    (np.uint64(0x0000FFFFFFFFFFFF), np.uint64(16)),
    (np.uint64(0x00FFFFFFFFFFFFFF), np.uint64(8)),
    (np.uint64(0x0FFFFFFFFFFFFFFF), np.uint64(4)),
    (np.uint64(0x3FFFFFFFFFFFFFFF), np.uint64(2)),
    (np.uint64(0x7FFFFFFFFFFFFFFF), np.uint64(1)),
)
_NLZ_32, _NLZ_16, _NLZ_8, _NLZ_4, _NLZ_2, _NLZ_1 = (s[0] for s in _NLZ_STEPS)
_SH_32, _SH_16, _SH_8, _SH_4, _SH_2, _SH_1 = (s[1] for s in _NLZ_STEPS)


@njit(cache=True)
def _nlz(x: np.uint64) -> np.uint64:
    """Leading zero bits of x > 0."""
    n = _U0
    if x <= _NLZ_32:
        n += _SH_32
        x <<= _SH_32
    if x <= _NLZ_16:
        n += _SH_16
        x <<= _SH_16
    if x <= _NLZ_8:
        n += _SH_8
        x <<= _SH_8
    if x <= _NLZ_4:
        n += _SH_4
        x <<= _SH_4
    if x <= _NLZ_2:
        n += _SH_2
        x <<= _SH_2
    if x <= _NLZ_1:
        n += _SH_1
    return n


@njit(cache=True)
def _mul_div_128(a: int, c: int, d: int) -> np.int64:
    ua = np.uint64(a)
    uc = np.uint64(c)
    # the 128-bit product hi:lo
    a0 = ua & _M32
    a1 = ua >> _S32
    c0 = uc & _M32
    c1 = uc >> _S32
    p00 = a0 * c0
    p01 = a0 * c1
    p10 = a1 * c0
    p11 = a1 * c1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    lo = (p00 & _M32) | (mid << _S32)
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    # hi:lo // d, the quotient fitting 64 bits (hi < d)
    ud = np.uint64(d)
    s = _nlz(ud)
    ud = ud << s
    vn1 = ud >> _S32
    vn0 = ud & _M32
    un32 = hi << s
    if s > _U0:
        un32 = un32 | (lo >> (_U64 - s))
    un10 = lo << s
    un1 = un10 >> _S32
    un0 = un10 & _M32
    q1 = un32 // vn1
    rhat = un32 - q1 * vn1
    while q1 >= _B32 or q1 * vn0 > ((rhat << _S32) | un1):
        q1 -= _U1
        rhat += vn1
        if rhat >= _B32:
            break
    un21 = (un32 << _S32) + un1 - q1 * ud
    q0 = un21 // vn1
    rhat = un21 - q0 * vn1
    while q0 >= _B32 or q0 * vn0 > ((rhat << _S32) | un0):
        q0 -= _U1
        rhat += vn1
        if rhat >= _B32:
            break
    return np.int64((q1 << _S32) + q0)


@njit(cache=True)
def mul_div_floor(a: int, c: int, d: int) -> int:
    """⌊a·c/d⌋ for int64 0 ≤ a, c and 0 < d, exact whenever the result fits in int64.

    Used compiled by the haircut kernel (v·t/b with t ≤ b); a·c may need 126 bits. Small
    products (< 4·10¹⁸, decided with a float estimate that cannot err across 2⁶³) take one
    machine multiply and divide.
    """
    if a == 0 or c == 0:
        return 0
    if float(a) * float(c) < 4.0e18:
        return (a * c) // d
    return int(_mul_div_128(a, c, d))


# ---------------------------------------------------------------------------------------------
# Compiled kernels. Arguments: src, dst, value, fee (int64 per transfer), seed_tx (bool per
# transfer), stop (bool per address), seed_addr/seed_pos/seed_amt (int64 per seed address,
# sorted by position; amount -1 = none, a source), max_hops (int64), n_addr. They return
# received, sent, held, absorbed, first, hops (per address), flow (per transfer), burned,
# seeded.


# Per-address state of the poison and haircut kernels. The replay touches addresses at random,
# so what a clean transfer reads is kept small: the balances and one byte of flags per address
# (which fits in cache); taint and the counters are only read for tainted addresses.
# bits of the flags; poison: _POISONED, haircut: _TAINTED (holds taint, t > 0)
_STOP, _SOURCE, _POISONED, _TAINTED = np.uint8(1), np.uint8(2), np.uint8(4), np.uint8(4)


@njit(cache=True)
def _flags(stop, n_addr):  # type: ignore[no-untyped-def]
    flags = np.zeros(n_addr, np.uint8)
    for a in range(n_addr):
        if stop[a]:
            flags[a] = _STOP
    return flags


@njit(cache=True)
def _poison_kernel(src, dst, value, fee, seed_tx, stop, seed_addr, seed_pos, seed_amt,  # type: ignore[no-untyped-def]
                   max_hops, n_addr):
    m = src.shape[0]
    bal = np.zeros(n_addr, np.int64)
    flags = _flags(stop, n_addr)
    received = np.zeros(n_addr, np.int64)
    sent = np.zeros(n_addr, np.int64)
    absorbed = np.zeros(n_addr, np.int64)
    first = np.full(n_addr, -1, np.int64)
    hops = np.full(n_addr, -1, np.int64)
    flow = np.zeros(m, np.int64)
    burned = 0
    seeded = 0
    sp = 0
    ns = seed_addr.shape[0]
    for k in range(m + 1):
        while sp < ns and seed_pos[sp] == k:
            a = seed_addr[sp]
            amt = seed_amt[sp]
            sp += 1
            b = bal[a]
            if amt >= 0 and b < amt:
                b = amt
                bal[a] = b
            target = b if amt < 0 else amt
            have = b if flags[a] & _POISONED else 0
            add = target - have if target > have else 0
            if first[a] < 0:
                first[a] = k
            hops[a] = 0
            seeded += add
            if flags[a] & _STOP or max_hops <= 0:
                absorbed[a] += add
            else:
                flags[a] |= _POISONED
                if amt < 0:
                    flags[a] |= _SOURCE
        if k == m:
            break
        x = src[k]
        y = dst[k]
        v = value[k]
        f = fee[k]
        need = v + f
        b = bal[x]
        fx = flags[x]
        if b < need:
            if fx & _SOURCE:
                seeded += need - b
            b = need
        bal[x] = b - need
        bal[y] += v
        fv = 0
        if fx & _POISONED:
            fv = v
            sent[x] += need
            burned += f
        seed = seed_tx[k]
        if seed:
            seeded += v - fv
            fv = v
        fy = flags[y]
        if fy & _SOURCE:
            seeded += v - fv
        if fv > 0:
            flow[k] = fv
            h = 1 if seed else hops[x] + 1
            received[y] += fv
            if first[y] < 0:
                first[y] = k
            hy = hops[y]
            if hy < 0 or h < hy:
                hy = h
                hops[y] = h
            if fy & _STOP or hy >= max_hops:
                absorbed[y] += fv
            else:
                flags[y] = fy | _POISONED
    held = np.where(flags & _POISONED != 0, bal, 0)
    return received, sent, held, absorbed, first, hops, flow, burned, seeded


@njit(cache=True)
def _haircut_kernel(src, dst, value, fee, seed_tx, stop, seed_addr, seed_pos, seed_amt,  # type: ignore[no-untyped-def]
                    max_hops, n_addr):
    m = src.shape[0]
    bal = np.zeros(n_addr, np.int64)
    tnt = np.zeros(n_addr, np.int64)  # read only where the flags say the address holds taint
    flags = _flags(stop, n_addr)
    received = np.zeros(n_addr, np.int64)
    sent = np.zeros(n_addr, np.int64)
    absorbed = np.zeros(n_addr, np.int64)
    first = np.full(n_addr, -1, np.int64)
    hops = np.full(n_addr, -1, np.int64)
    flow = np.zeros(m, np.int64)
    burned = 0
    seeded = 0
    sp = 0
    ns = seed_addr.shape[0]
    for k in range(m + 1):
        while sp < ns and seed_pos[sp] == k:
            a = seed_addr[sp]
            amt = seed_amt[sp]
            sp += 1
            b = bal[a]
            if amt >= 0 and b < amt:
                b = amt
                bal[a] = b
            target = b if amt < 0 else amt
            t = tnt[a]
            add = target - t if target > t else 0
            if first[a] < 0:
                first[a] = k
            hops[a] = 0
            seeded += add
            if flags[a] & _STOP or max_hops <= 0:
                absorbed[a] += add
            else:
                tnt[a] = t + add
                if t + add > 0:
                    flags[a] |= _TAINTED
                if amt < 0:
                    flags[a] |= _SOURCE
        if k == m:
            break
        x = src[k]
        y = dst[k]
        v = value[k]
        f = fee[k]
        need = v + f
        b = bal[x]
        fx = flags[x]
        if b < need:
            if fx & _SOURCE:
                seeded += need - b
                tnt[x] += need - b
                flags[x] = fx | _TAINTED
                fx = flags[x]
            b = need
        bal[x] = b - need
        fv = 0
        if fx & _TAINTED:
            t = tnt[x]
            ff = 0
            if t == b:
                fv = v
                ff = f
            else:
                fv = mul_div_floor(v, t, b)
                ff = mul_div_floor(f, t, b)
                over = (t - fv - ff) - (b - need)
                if over > 0:  # the remainder cannot stay with x: it is burned
                    if f > 0:
                        ff += over
                    else:
                        fv += over
            t -= fv + ff
            tnt[x] = t
            if t == 0:
                flags[x] = fx & ~_TAINTED
            sent[x] += fv + ff
            burned += ff
        bal[y] += v
        seed = seed_tx[k]
        if seed:
            seeded += v - fv
            fv = v
        gain = fv
        fy = flags[y]
        if fy & _SOURCE:
            seeded += v - fv
            gain = v
        if fv > 0:
            flow[k] = fv
            h = 1 if seed else hops[x] + 1
            received[y] += fv
            if first[y] < 0:
                first[y] = k
            hy = hops[y]
            if hy < 0 or h < hy:
                hy = h
                hops[y] = h
            if fy & _STOP or hy >= max_hops:
                absorbed[y] += fv
                gain = 0
        if gain > 0:
            tnt[y] += gain
            flags[y] |= _TAINTED
    return received, sent, tnt, absorbed, first, hops, flow, burned, seeded


# The FIFO/LIFO lot pool: amt, knd (0 clean, 1 tainted), nxt, prv per lot; head/tail per
# address (-1: no lots, the whole balance is clean); meta = [free list head, free count, used].


@njit(cache=True)
def _alloc(meta, nxt):  # type: ignore[no-untyped-def]
    i = meta[0]
    if i >= 0:
        meta[0] = nxt[i]
        meta[1] -= 1
        return i
    i = meta[2]
    meta[2] += 1
    return i


@njit(cache=True)
def _release(meta, nxt, i):  # type: ignore[no-untyped-def]
    nxt[i] = meta[0]
    meta[0] = i
    meta[1] += 1


@njit(cache=True)
def _push_back(a, amount, kind, head, tail, amt, knd, nxt, prv, meta):  # type: ignore[no-untyped-def]
    if amount <= 0:
        return
    last = tail[a]
    if last >= 0 and knd[last] == kind:
        amt[last] += amount
        return
    i = _alloc(meta, nxt)
    amt[i] = amount
    knd[i] = kind
    nxt[i] = -1
    prv[i] = last
    if last >= 0:
        nxt[last] = i
    else:
        head[a] = i
    tail[a] = i


@njit(cache=True)
def _push_front(a, amount, kind, head, tail, amt, knd, nxt, prv, meta):  # type: ignore[no-untyped-def]
    if amount <= 0:
        return
    fst = head[a]
    if fst >= 0 and knd[fst] == kind:
        amt[fst] += amount
        return
    i = _alloc(meta, nxt)
    amt[i] = amount
    knd[i] = kind
    prv[i] = -1
    nxt[i] = fst
    if fst >= 0:
        prv[fst] = i
    else:
        tail[a] = i
    head[a] = i


@njit(cache=True)
def _clear(a, head, tail, nxt, meta):  # type: ignore[no-untyped-def]
    i = head[a]
    while i >= 0:
        j = nxt[i]
        _release(meta, nxt, i)
        i = j
    head[a] = -1
    tail[a] = -1


@njit(cache=True)
def _take(a, amount, lifo, record, head, tail, amt, knd, nxt, prv, meta, s_amt, s_knd):  # type: ignore[no-untyped-def]
    """Take ``amount`` from a's oldest (newest if lifo) lots; the pieces go to s_amt/s_knd
    (merged) when ``record``. Returns (tainted amount taken, number of pieces)."""
    tainted = 0
    ns = 0
    while amount > 0:
        i = tail[a] if lifo else head[a]
        piece = amt[i] if amt[i] < amount else amount
        kind = knd[i]
        if kind == 1:
            tainted += piece
        if record:
            if ns > 0 and s_knd[ns - 1] == kind:
                s_amt[ns - 1] += piece
            else:
                s_amt[ns] = piece
                s_knd[ns] = kind
                ns += 1
        if piece == amt[i]:
            if lifo:
                j = prv[i]
                tail[a] = j
                if j >= 0:
                    nxt[j] = -1
                else:
                    head[a] = -1
            else:
                j = nxt[i]
                head[a] = j
                if j >= 0:
                    prv[j] = -1
                else:
                    tail[a] = -1
            _release(meta, nxt, i)
        else:
            amt[i] -= piece
        amount -= piece
    return tainted, ns


@njit(cache=True)
def _grown(arr, size):  # type: ignore[no-untyped-def]
    out = np.empty(size, arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True)
def _lots_seed(a, am, k, stop, max_hops, bal, tnt, source, absorbed, first, hops, acc,  # type: ignore[no-untyped-def]
               head, tail, amt, knd, nxt, prv, meta, s_amt, s_knd):
    """Seed address ``a`` (amount ``am``, -1: a source) before transfer ``k``."""
    b = bal[a]
    if am >= 0 and b < am:
        if head[a] >= 0:
            _push_front(a, am - b, 0, head, tail, amt, knd, nxt, prv, meta)
        b = am
        bal[a] = b
    target = b if am < 0 else am
    add = target - tnt[a] if target > tnt[a] else 0
    if first[a] < 0:
        first[a] = k
    hops[a] = 0
    acc[1] += add
    if stop[a] or max_hops <= 0:
        absorbed[a] += add
        return
    if am < 0:
        source[a] = True
    if add == 0:
        return
    # turn the newest `add` clean units into taint: list the lots, then rebuild them
    ns = 0
    if head[a] < 0:
        s_amt[0] = b
        s_knd[0] = 0
        ns = 1
    else:
        i = head[a]
        while i >= 0:
            s_amt[ns] = amt[i]
            s_knd[ns] = knd[i]
            ns += 1
            i = nxt[i]
        _clear(a, head, tail, nxt, meta)
    keep = b - tnt[a] - add  # clean units that stay clean (the oldest)
    for j in range(ns):
        if s_knd[j] == 1:
            _push_back(a, s_amt[j], 1, head, tail, amt, knd, nxt, prv, meta)
        else:
            c = s_amt[j] if s_amt[j] < keep else keep
            keep -= c
            _push_back(a, c, 0, head, tail, amt, knd, nxt, prv, meta)
            _push_back(a, s_amt[j] - c, 1, head, tail, amt, knd, nxt, prv, meta)
    tnt[a] += add


@njit(cache=True)
def _lots_transfers(k, end, lifo, src, dst, value, fee, seed_tx, stop, max_hops,  # type: ignore[no-untyped-def]
                    bal, tnt, source, received, sent, absorbed, first, hops, flow, acc,
                    head, tail, amt, knd, nxt, prv, meta, s_amt, s_knd):
    """Transfers k..end-1; returns where it stopped (early when the lot pool runs low)."""
    cap = amt.shape[0]
    burned = acc[0]
    seeded = acc[1]
    while k < end:
        if meta[1] + cap - meta[2] < 4:
            break
        x = src[k]
        y = dst[k]
        v = value[k]
        f = fee[k]
        need = v + f
        b = bal[x]
        t = tnt[x]
        if b < need:
            top = need - b
            if source[x]:
                seeded += top
                t += top
                _push_front(x, top, 1, head, tail, amt, knd, nxt, prv, meta)
            elif head[x] >= 0:
                _push_front(x, top, 0, head, tail, amt, knd, nxt, prv, meta)
            b = need
        fv = 0
        ns = 1
        if head[x] >= 0:
            fv, ns = _take(x, v, lifo, True, head, tail, amt, knd, nxt, prv, meta, s_amt, s_knd)
            ff, _ = _take(x, f, lifo, False, head, tail, amt, knd, nxt, prv, meta, s_amt,
                          s_knd)
            t -= fv + ff
            sent[x] += fv + ff
            burned += ff
            if t == 0:
                _clear(x, head, tail, nxt, meta)
        else:
            s_amt[0] = v
            s_knd[0] = 0
        tnt[x] = t
        bal[x] = b - need
        h = hops[x] + 1
        gain = fv
        if seed_tx[k]:
            seeded += v - fv
            fv = v
            gain = v
            h = 1
            s_amt[0] = v
            s_knd[0] = 1
            ns = 1
        if source[y]:
            seeded += v - fv
            gain = v
            s_amt[0] = v
            s_knd[0] = 1
            ns = 1
        flow[k] = fv
        if fv > 0:
            received[y] += fv
            if first[y] < 0:
                first[y] = k
            if hops[y] < 0 or h < hops[y]:
                hops[y] = h
            if stop[y] or hops[y] >= max_hops:
                absorbed[y] += fv
                gain = 0
        if gain == 0:
            if head[y] >= 0:
                _push_back(y, v, 0, head, tail, amt, knd, nxt, prv, meta)
        else:
            if head[y] < 0:
                _push_back(y, bal[y], 0, head, tail, amt, knd, nxt, prv, meta)
            for j in range(ns):
                _push_back(y, s_amt[j], s_knd[j], head, tail, amt, knd, nxt, prv, meta)
            tnt[y] += gain
        bal[y] += v
        k += 1
    acc[0] = burned
    acc[1] = seeded
    return k


@njit(cache=True)
def _lots_kernel(src, dst, value, fee, seed_tx, stop, seed_addr, seed_pos, seed_amt,  # type: ignore[no-untyped-def]
                 max_hops, n_addr, lifo):
    m = src.shape[0]
    bal = np.zeros(n_addr, np.int64)
    tnt = np.zeros(n_addr, np.int64)
    source = np.zeros(n_addr, np.bool_)
    received = np.zeros(n_addr, np.int64)
    sent = np.zeros(n_addr, np.int64)
    absorbed = np.zeros(n_addr, np.int64)
    first = np.full(n_addr, -1, np.int64)
    hops = np.full(n_addr, -1, np.int64)
    flow = np.zeros(m, np.int64)
    head = np.full(n_addr, -1, np.int64)
    tail = np.full(n_addr, -1, np.int64)
    cap = 1024
    amt = np.zeros(cap, np.int64)
    knd = np.zeros(cap, np.int8)
    nxt = np.full(cap, -1, np.int64)
    prv = np.full(cap, -1, np.int64)
    s_amt = np.zeros(cap + 2, np.int64)
    s_knd = np.zeros(cap + 2, np.int8)
    meta = np.zeros(3, np.int64)  # free list head, free count, used
    meta[0] = -1
    acc = np.zeros(2, np.int64)  # burned, seeded
    sp = 0
    n_seeds = seed_addr.shape[0]
    k = 0
    while True:
        if meta[1] + cap - meta[2] < 4:
            cap *= 2
            amt = _grown(amt, cap)
            knd = _grown(knd, cap)
            nxt = _grown(nxt, cap)
            prv = _grown(prv, cap)
            s_amt = _grown(s_amt, cap + 2)
            s_knd = _grown(s_knd, cap + 2)
        if sp < n_seeds and seed_pos[sp] == k:
            _lots_seed(seed_addr[sp], seed_amt[sp], k, stop, max_hops, bal, tnt, source,
                       absorbed, first, hops, acc, head, tail, amt, knd, nxt, prv, meta,
                       s_amt, s_knd)
            sp += 1
            continue
        if k == m:
            break
        end = seed_pos[sp] if sp < n_seeds else m
        k = _lots_transfers(k, end, lifo, src, dst, value, fee, seed_tx, stop, max_hops,
                            bal, tnt, source, received, sent, absorbed, first, hops, flow, acc,
                            head, tail, amt, knd, nxt, prv, meta, s_amt, s_knd)
    return received, sent, tnt, absorbed, first, hops, flow, acc[0], acc[1]


# ---------------------------------------------------------------------------------------------
# The reference: the same semantics in plain Python, exact for any size of integer.


class _Lots:
    """An address's money as [kind, amount] lots, oldest first (kind 1: tainted), adjacent
    lots of the same kind merged."""

    __slots__ = ("q",)

    def __init__(self) -> None:
        self.q: deque[list[int]] = deque()

    def push_back(self, kind: int, amount: int) -> None:
        if amount > 0:
            if self.q and self.q[-1][0] == kind:
                self.q[-1][1] += amount
            else:
                self.q.append([kind, amount])

    def push_front(self, kind: int, amount: int) -> None:
        if amount > 0:
            if self.q and self.q[0][0] == kind:
                self.q[0][1] += amount
            else:
                self.q.appendleft([kind, amount])

    def take(self, amount: int, newest_first: bool) -> list[tuple[int, int]]:
        """Remove ``amount`` (at most what the lots hold); the pieces in the order taken."""
        pieces: list[tuple[int, int]] = []
        while amount > 0:
            lot = self.q[-1] if newest_first else self.q[0]
            piece = min(lot[1], amount)
            if pieces and pieces[-1][0] == lot[0]:
                pieces[-1] = (lot[0], pieces[-1][1] + piece)
            else:
                pieces.append((lot[0], piece))
            lot[1] -= piece
            if lot[1] == 0:
                if newest_first:
                    self.q.pop()
                else:
                    self.q.popleft()
            amount -= piece
        return pieces

    def taint_newest(self, amount: int) -> None:
        """Turn the newest ``amount`` clean units into taint."""
        keep = sum(n for kind, n in self.q if kind == 0) - amount
        old = list(self.q)
        self.q.clear()
        for kind, n in old:
            if kind == 1:
                self.push_back(1, n)
            else:
                c = min(n, keep)
                keep -= c
                self.push_back(0, c)
                self.push_back(1, n - c)


def _tainted(pieces: Sequence[tuple[int, int]]) -> int:
    return sum(n for kind, n in pieces if kind == 1)


def reference_kernel(policy: Policy, src: Sequence[int], dst: Sequence[int],
                     value: Sequence[int], fee: Sequence[int], seed_tx: Sequence[bool],
                     stop: Sequence[bool], seed_addresses: Sequence[tuple[int, int, int | None]],
                     max_hops: int, n_addr: int) -> tuple[Any, ...]:
    """The plain-Python kernel (Python ints, any size): the oracle of the compiled ones.

    ``seed_addresses`` must be sorted by position. Returns lists received, sent, held,
    absorbed, first, hops (per address), flow (per transfer) and ints burned, seeded.
    """
    m = len(src)
    haircut = policy == "haircut"
    lots = policy in ("fifo", "lifo")
    newest_first = policy == "lifo"
    bal = [0] * n_addr
    tnt = [0] * n_addr  # taint held (poison: unused, see poisoned)
    poisoned = [False] * n_addr
    source = [False] * n_addr
    queue = [_Lots() for _ in range(n_addr)] if lots else []
    received = [0] * n_addr
    sent = [0] * n_addr
    absorbed = [0] * n_addr
    first = [-1] * n_addr
    hops = [-1] * n_addr
    flow = [0] * m
    burned = seeded = 0
    pending = deque(seed_addresses)

    def held_by(a: int) -> int:
        if policy == "poison":
            return bal[a] if poisoned[a] else 0
        return tnt[a]

    for k in range(m + 1):
        while pending and pending[0][1] == k:
            a, _, amount = pending.popleft()
            if amount is not None and bal[a] < amount:
                if lots:
                    queue[a].push_front(0, amount - bal[a])
                bal[a] = amount
            target = bal[a] if amount is None else amount
            add = max(0, target - held_by(a))
            if first[a] < 0:
                first[a] = k
            hops[a] = 0
            seeded += add
            if stop[a] or max_hops <= 0:
                absorbed[a] += add
                continue
            source[a] = source[a] or amount is None
            poisoned[a] = True
            if lots and add:
                queue[a].taint_newest(add)
            if policy != "poison":
                tnt[a] += add
        if k == m:
            break
        x, y, v, f = src[k], dst[k], value[k], fee[k]
        need = v + f
        if bal[x] < need:  # incomplete history: clean money it had all along
            top = need - bal[x]
            kind = 0
            if source[x]:
                seeded += top
                kind = 1
                if policy != "poison":
                    tnt[x] += top
            if lots:
                queue[x].push_front(kind, top)
            bal[x] = need
        b, t = bal[x], tnt[x]
        pieces: list[tuple[int, int]] = [(0, v)]
        if policy == "poison":
            fv, ff = (v, f) if poisoned[x] else (0, 0)
        elif haircut:
            fv, ff = (v * t // b, f * t // b) if t else (0, 0)
            if t - fv - ff > b - need:  # the remainder cannot stay: it is burned
                if f > 0:
                    ff = t - fv - (b - need)
                else:
                    fv = t - ff - (b - need)
        else:
            pieces = queue[x].take(v, newest_first)
            fv = _tainted(pieces)
            ff = _tainted(queue[x].take(f, newest_first))
        if policy != "poison":
            tnt[x] -= fv + ff
        bal[x] -= need
        if fv or ff:
            sent[x] += need if policy == "poison" else fv + ff
            burned += ff
        h = hops[x] + 1
        if seed_tx[k]:
            seeded += v - fv
            fv = v
            h = 1
            pieces = [(1, v)]
        gain = fv
        if source[y]:
            seeded += v - fv
            gain = v
            pieces = [(1, v)]
        flow[k] = fv
        if fv > 0:
            received[y] += fv
            if first[y] < 0:
                first[y] = k
            hops[y] = h if hops[y] < 0 else min(hops[y], h)
            if stop[y] or hops[y] >= max_hops:
                absorbed[y] += fv
                gain = 0
                pieces = [(0, v)]
        if gain:
            poisoned[y] = True
            if policy != "poison":
                tnt[y] += gain
        if lots:
            for kind, n in pieces:
                queue[y].push_back(kind, n)
        bal[y] += v
        assert 0 <= tnt[x] <= bal[x] and 0 <= tnt[y] <= bal[y], "taint exceeds balance"
    held = [held_by(a) for a in range(n_addr)]
    return received, sent, held, absorbed, first, hops, flow, burned, seeded


# ---------------------------------------------------------------------------------------------
# The entry point: checks, choice of kernel, results.


def _ids(arr: Any, m: int, n_addr: int, name: str) -> npt.NDArray[np.int64]:
    out = np.asarray(arr)
    if out.shape != (m,) or out.dtype.kind not in "iu":
        raise ValueError(f"transfers.{name} must be {m} integer address ids")
    if m and (int(out.min()) < 0 or int(out.max()) >= n_addr):
        raise ValueError(f"transfers.{name} holds an address id outside 0..{n_addr - 1}")
    return out.astype(np.int64, copy=False)


def _amounts(arr: Any, m: int, name: str) -> npt.NDArray[Any]:
    """int64 when every amount fits, else an object array of Python ints; never negative."""
    out = np.asarray(arr)
    if out.shape != (m,):
        raise ValueError(f"transfers.{name} must have one amount per transfer ({m})")
    if out.dtype.kind in "iu":
        if m and out.dtype.kind == "u" and int(out.max()) > _INT64_MAX:
            out = np.array([int(v) for v in out], dtype=object)
        else:
            out = out.astype(np.int64, copy=False)
            if m and int(out.min()) < 0:
                raise ValueError(f"transfers.{name} holds a negative amount")
            return out
    if out.dtype != object:
        raise ValueError(f"transfers.{name} must hold integers, not {out.dtype}")
    for v in out:
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise ValueError(f"transfers.{name} holds {v!r}, not a whole amount ≥ 0")
    return out


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
    return total <= _INT64_MAX


def _as_result(values: Any, big: bool) -> npt.NDArray[Any]:
    if isinstance(values, np.ndarray):
        return values
    if not big and all(-_INT64_MAX <= v <= _INT64_MAX for v in values):
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
    value = _amounts(transfers.value, m, "value")
    fee = _amounts(transfers.fee, m, "fee")
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
        args = (src, dst, value, fee, seed_tx, stop,
                np.array([s[0] for s in seed_list], dtype=np.int64),
                np.array([s[1] for s in seed_list], dtype=np.int64),
                np.array([-1 if s[2] is None else s[2] for s in seed_list], dtype=np.int64),
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
