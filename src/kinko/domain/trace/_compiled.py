"""Compiled taint kernels (numba, int64) for the poison and haircut policies of account chains.

The semantics are those of :mod:`kinko.domain.trace.account`, which checks the input and
calls these kernels when every balance fits in int64; the plain-Python
:func:`~kinko.domain.trace._reference.reference_kernel` is their oracle. The FIFO/LIFO kernel
is in :mod:`kinko.domain.trace._lots`.

The compiled kernels take: src, dst, value, fee (int64 per transfer), seed_tx (bool per
transfer), stop (bool per address), seed_addr/seed_pos/seed_amt (int64 per seed address,
sorted by position; amount -1 = none, a source), max_hops (int64), n_addr. They return
received, sent, held, absorbed, first, hops (per address), flow (per transfer), burned,
seeded.

A clean transfer reads two balances and a byte of flags per address; taint and the counters
are only touched for tainted addresses. Haircut's proportional share is exact in 128 bits
(:func:`~kinko.domain.trace._int128.mul_div_floor`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kinko.domain.trace._int128 import mul_div_floor

# Per-address state of the poison and haircut kernels. The replay touches addresses at random,
# so what a clean transfer reads is kept small: the balances and one byte of flags per address
# (which fits in cache); taint and the counters are only read for tainted addresses.
# bits of the flags; poison: _POISONED, haircut: _TAINTED (holds taint, t > 0)
_STOP, _SOURCE, _POISONED, _TAINTED = np.uint8(1), np.uint8(2), np.uint8(4), np.uint8(4)


@njit(cache=True)
def _outputs(n_addr, m):  # type: ignore[no-untyped-def]
    """What every compiled kernel fills: per address received, sent, absorbed, first
    tainted position and hops (-1: never), and per transfer the taint it carried."""
    return (np.zeros(n_addr, np.int64), np.zeros(n_addr, np.int64),
            np.zeros(n_addr, np.int64), np.full(n_addr, -1, np.int64),
            np.full(n_addr, -1, np.int64), np.zeros(m, np.int64))


@njit(cache=True)
def grown(arr, size):  # type: ignore[no-untyped-def]
    """``arr`` copied into a new array of ``size`` (≥ its length) elements. An element
    loop: a slice assignment compiles numpy's broadcasting, and its errors, into every
    kernel that grows an array (seconds of compilation, no faster)."""
    out = np.empty(size, arr.dtype)
    for i in range(arr.shape[0]):
        out[i] = arr[i]
    return out


@njit(cache=True)
def _flags(stop, n_addr):  # type: ignore[no-untyped-def]
    flags = np.zeros(n_addr, np.uint8)
    for a in range(n_addr):
        if stop[a]:
            flags[a] = _STOP
    return flags


@njit(cache=True, nogil=True)
def _poison_kernel(src, dst, value, fee, seed_tx, stop, seed_addr, seed_pos, seed_amt,  # type: ignore[no-untyped-def]
                   max_hops, n_addr):
    m = src.shape[0]
    bal = np.zeros(n_addr, np.int64)
    flags = _flags(stop, n_addr)
    received, sent, absorbed, first, hops, flow = _outputs(n_addr, m)
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
    held = np.zeros(n_addr, np.int64)  # a loop, not np.where: seconds less to compile
    for a in range(n_addr):
        if flags[a] & _POISONED:
            held[a] = bal[a]
    return received, sent, held, absorbed, first, hops, flow, burned, seeded


@njit(cache=True, nogil=True)
def _haircut_kernel(src, dst, value, fee, seed_tx, stop, seed_addr, seed_pos, seed_amt,  # type: ignore[no-untyped-def]
                    max_hops, n_addr):
    m = src.shape[0]
    bal = np.zeros(n_addr, np.int64)
    tnt = np.zeros(n_addr, np.int64)  # read only where the flags say the address holds taint
    flags = _flags(stop, n_addr)
    received, sent, absorbed, first, hops, flow = _outputs(n_addr, m)
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
