"""Compiled taint kernel (numba, int64) for the FIFO and LIFO policies of account chains.

Every address holds an ordered sequence of lots, clean or tainted; a transfer takes its value,
then its fee, from the oldest (FIFO) or newest (LIFO) lots, and the receiver appends the pieces
in the order they were taken (the semantics: :mod:`kinko.domain.trace.account`). The kernel
keeps lots only for addresses that hold taint (a clean address is just its balance), in a pool
of preallocated arrays (doubled when it runs low) with per-address doubly linked lists, so
each transfer costs O(1) plus the lots it takes. A transfer of the sender's whole balance
moves its whole list to the receiver at once, after its fee has taken the lots at the other
end (the units the value leaves): O(1) plus the lots the fee consumes, whatever the lots
moved. A thief who alternates clean and stolen units into one address and then passes its
balance back and forth (or to itself), paying fees, would otherwise have every transfer
move every lot (quadratic). LIFO takes the lots newest first, so the receiver gets them in
reverse order: a lot's two links are kept unordered (neither is "next"; a walk goes to the
link it did not come from), so a list reads either way from either end and reversing one is
swapping its head and tail.

:func:`_lots_kernel` takes the arguments of the kernels of :mod:`kinko.domain.trace._compiled`
and ``lifo`` (bool), and returns the same results.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kinko.domain.trace._compiled import _outputs, grown

# a lot's kind, as the int8 the kind arrays hold (a literal 0 or 1 would compile each push
# once more for each)
_CLEAN = np.int8(0)
_TAINTED = np.int8(1)

# The FIFO/LIFO lot pool: amt, knd (0 clean, 1 tainted), nb0, nb1 per lot (its two neighbours,
# unordered, -1 at an end; nb0 links the free list); head/tail per address (-1: no lots, the
# whole balance is clean); meta = [free list head, free count, used].


@njit(cache=True)
def _relink(i, old, new, nb0, nb1):  # type: ignore[no-untyped-def]
    """Lot i's link to ``old`` now goes to ``new``."""
    if nb0[i] == old:
        nb0[i] = new
    else:
        nb1[i] = new


@njit(cache=True)
def _beyond(i, came, nb0, nb1):  # type: ignore[no-untyped-def]
    """Lot i's neighbour other than ``came`` (-1 past the end)."""
    return nb1[i] if nb0[i] == came else nb0[i]


@njit(cache=True)
def _alloc(meta, nb0):  # type: ignore[no-untyped-def]
    i = meta[0]
    if i >= 0:
        meta[0] = nb0[i]
        meta[1] -= 1
        return i
    i = meta[2]
    meta[2] += 1
    return i


@njit(cache=True)
def _release(meta, nb0, i):  # type: ignore[no-untyped-def]
    nb0[i] = meta[0]
    meta[0] = i
    meta[1] += 1


@njit(cache=True)
def _push_back(a, amount, kind, head, tail, amt, knd, nb0, nb1, meta):  # type: ignore[no-untyped-def]
    if amount <= 0:
        return
    last = tail[a]
    if last >= 0 and knd[last] == kind:
        amt[last] += amount
        return
    i = _alloc(meta, nb0)
    amt[i] = amount
    knd[i] = kind
    nb0[i] = last
    nb1[i] = -1
    if last >= 0:
        _relink(last, -1, i, nb0, nb1)
    else:
        head[a] = i
    tail[a] = i


@njit(cache=True)
def _push_front(a, amount, kind, head, tail, amt, knd, nb0, nb1, meta):  # type: ignore[no-untyped-def]
    if amount <= 0:
        return
    fst = head[a]
    if fst >= 0 and knd[fst] == kind:
        amt[fst] += amount
        return
    i = _alloc(meta, nb0)
    amt[i] = amount
    knd[i] = kind
    nb0[i] = -1
    nb1[i] = fst
    if fst >= 0:
        _relink(fst, -1, i, nb0, nb1)
    else:
        tail[a] = i
    head[a] = i


@njit(cache=True)
def _clear(a, head, tail, nb0, nb1, meta):  # type: ignore[no-untyped-def]
    _drop(head[a], nb0, nb1, meta)
    head[a] = -1
    tail[a] = -1


@njit(cache=True)
def _drop(i, nb0, nb1, meta):  # type: ignore[no-untyped-def]
    """Release the lots of the list that ends at lot i (-1: none)."""
    came = -1
    while i >= 0:
        j = _beyond(i, came, nb0, nb1)
        _release(meta, nb0, i)
        came = i
        i = j


@njit(cache=True)
def _splice(a, first, last, head, tail, amt, knd, nb0, nb1, meta):  # type: ignore[no-untyped-def]
    """Append the detached list first..last (its lots in that order) to a's lots, merging
    the lots that meet if they are of one kind."""
    end = tail[a]
    if end >= 0 and knd[end] == knd[first]:
        amt[end] += amt[first]
        if first == last:
            _release(meta, nb0, first)
            return
        j = _beyond(first, -1, nb0, nb1)
        _relink(j, first, -1, nb0, nb1)
        _release(meta, nb0, first)
        first = j
    if end >= 0:
        _relink(end, -1, first, nb0, nb1)
        _relink(first, -1, end, nb0, nb1)
    else:
        head[a] = first
    tail[a] = last


@njit(cache=True)
def _take(a, amount, lifo, record, head, tail, amt, knd, nb0, nb1, meta, s_amt, s_knd):  # type: ignore[no-untyped-def]
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
            j = _beyond(i, -1, nb0, nb1)
            if j >= 0:
                _relink(j, i, -1, nb0, nb1)
            if lifo:
                tail[a] = j
                if j < 0:
                    head[a] = -1
            else:
                head[a] = j
                if j < 0:
                    tail[a] = -1
            _release(meta, nb0, i)
        else:
            amt[i] -= piece
        amount -= piece
    return tainted, ns


@njit(cache=True)
def _lots_seed(a, am, k, stop, max_hops, bal, tnt, source, absorbed, first, hops, acc,  # type: ignore[no-untyped-def]
               head, tail, amt, knd, nb0, nb1, meta, s_amt, s_knd):
    """Seed address ``a`` (amount ``am``, -1: a source) before transfer ``k``."""
    b = bal[a]
    if am >= 0 and b < am:
        if head[a] >= 0:
            _push_front(a, am - b, _CLEAN, head, tail, amt, knd, nb0, nb1, meta)
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
        came = -1
        while i >= 0:
            s_amt[ns] = amt[i]
            s_knd[ns] = knd[i]
            ns += 1
            j = _beyond(i, came, nb0, nb1)
            came = i
            i = j
        _clear(a, head, tail, nb0, nb1, meta)
    keep = b - tnt[a] - add  # clean units that stay clean (the oldest)
    for j in range(ns):
        if s_knd[j] == 1:
            _push_back(a, s_amt[j], _TAINTED, head, tail, amt, knd, nb0, nb1, meta)
        else:
            c = s_amt[j] if s_amt[j] < keep else keep
            keep -= c
            _push_back(a, c, _CLEAN, head, tail, amt, knd, nb0, nb1, meta)
            _push_back(a, s_amt[j] - c, _TAINTED, head, tail, amt, knd, nb0, nb1, meta)
    tnt[a] += add


@njit(cache=True)
def _lots_transfers(k, end, lifo, src, dst, value, fee, seed_tx, stop, max_hops,  # type: ignore[no-untyped-def]
                    bal, tnt, source, received, sent, absorbed, first, hops, flow, acc,
                    head, tail, amt, knd, nb0, nb1, meta, s_amt, s_knd):
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
                _push_front(x, top, _TAINTED, head, tail, amt, knd, nb0, nb1, meta)
            elif head[x] >= 0:
                _push_front(x, top, _CLEAN, head, tail, amt, knd, nb0, nb1, meta)
            b = need
        fv = 0
        ns = 1
        chain = -1  # x's whole list, detached: the receiver takes it as it is, or it goes
        chain_end = -1
        if head[x] >= 0 and need == b and v > 0:
            # the whole balance: the fee takes the units the value leaves, the newest f
            # (LIFO: the oldest f), lot by lot; the value is then every lot that remains,
            # oldest first (LIFO: newest first)
            ff = 0
            if f > 0:
                ff, _ = _take(x, f, not lifo, False, head, tail, amt, knd, nb0, nb1, meta,
                              s_amt, s_knd)
            fv = t - ff
            ns = 0
            chain = tail[x] if lifo else head[x]
            chain_end = head[x] if lifo else tail[x]
            head[x] = -1
            tail[x] = -1
            sent[x] += t
            burned += ff
            t = 0
        elif head[x] >= 0:
            fv, ns = _take(x, v, lifo, True, head, tail, amt, knd, nb0, nb1, meta, s_amt, s_knd)
            ff, _ = _take(x, f, lifo, False, head, tail, amt, knd, nb0, nb1, meta, s_amt,
                          s_knd)
            t -= fv + ff
            sent[x] += fv + ff
            burned += ff
            if t == 0:
                _clear(x, head, tail, nb0, nb1, meta)
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
                _push_back(y, v, _CLEAN, head, tail, amt, knd, nb0, nb1, meta)
        else:
            if head[y] < 0:
                _push_back(y, bal[y], _CLEAN, head, tail, amt, knd, nb0, nb1, meta)
            if ns == 0:
                _splice(y, chain, chain_end, head, tail, amt, knd, nb0, nb1, meta)
                chain = -1
            for j in range(ns):
                _push_back(y, s_amt[j], s_knd[j], head, tail, amt, knd, nb0, nb1, meta)
            tnt[y] += gain
        if chain >= 0:
            _drop(chain, nb0, nb1, meta)
        bal[y] += v
        k += 1
    acc[0] = burned
    acc[1] = seeded
    return k


@njit(cache=True, nogil=True)
def _lots_kernel(src, dst, value, fee, seed_tx, stop, seed_addr, seed_pos, seed_amt,  # type: ignore[no-untyped-def]
                 max_hops, n_addr, lifo):
    m = src.shape[0]
    bal = np.zeros(n_addr, np.int64)
    tnt = np.zeros(n_addr, np.int64)
    source = np.zeros(n_addr, np.bool_)
    received, sent, absorbed, first, hops, flow = _outputs(n_addr, m)
    head = np.full(n_addr, -1, np.int64)
    tail = np.full(n_addr, -1, np.int64)
    cap = 1024
    amt = np.zeros(cap, np.int64)
    knd = np.zeros(cap, np.int8)
    nb0 = np.full(cap, -1, np.int64)
    nb1 = np.full(cap, -1, np.int64)
    s_amt = np.zeros(cap + 2, np.int64)
    s_knd = np.zeros(cap + 2, np.int8)
    meta = np.zeros(3, np.int64)  # free list head, free count, used
    meta[0] = -1
    acc = np.zeros(2, np.int64)  # burned, seeded
    sp = 0
    n_seeds = seed_addr.shape[0]
    k = np.int64(0)  # not the literal 0: a kernel called with it compiles once more
    while True:
        if meta[1] + cap - meta[2] < 4:
            cap *= 2
            amt = grown(amt, cap)
            knd = grown(knd, cap)
            nb0 = grown(nb0, cap)
            nb1 = grown(nb1, cap)
            s_amt = grown(s_amt, cap + 2)
            s_knd = grown(s_knd, cap + 2)
        if sp < n_seeds and seed_pos[sp] == k:
            _lots_seed(seed_addr[sp], seed_amt[sp], k, stop, max_hops, bal, tnt, source,
                       absorbed, first, hops, acc, head, tail, amt, knd, nb0, nb1, meta,
                       s_amt, s_knd)
            sp += 1
            continue
        if k == m:
            break
        end = seed_pos[sp] if sp < n_seeds else m
        k = _lots_transfers(k, end, lifo, src, dst, value, fee, seed_tx, stop, max_hops,
                            bal, tnt, source, received, sent, absorbed, first, hops, flow, acc,
                            head, tail, amt, knd, nb0, nb1, meta, s_amt, s_knd)
    return received, sent, tnt, absorbed, first, hops, flow, acc[0], acc[1]
