"""Compiled taint kernel (numba, int64) for UTXO chains: poison, haircut, FIFO, LIFO and TIHO.

The semantics are those of :mod:`kinko.domain.trace.utxo`, which checks the input and calls
:func:`_utxo_kernel` when every amount, and their sum, fits in int64; the plain-Python
reference there (:func:`~kinko.domain.trace.utxo.reference_utxo`) is its oracle, and the
property tests hold the two to the same results.

Per output the kernel keeps the taint it will pass on when spent (``live``: 0 once spent, at
a stop, or clean), and for FIFO/LIFO the clean and tainted segments it holds, in order, in an
append-only pool (``seg_off``/``seg_cnt`` per output; the pool doubles when full). A
transaction with no tainted input and no seeded output costs one look at each input's
``live``. Haircut's shares ⌊T·o/D⌋ are exact in 128 bits
(:func:`~kinko.domain.trace._int128.mul_div_floor`), and the remainders T·o mod D, needed to
hand out the rounding rest, are computed modulo 2⁶⁴ (exact, as they are below D < 2⁶³).

Policies: 0 poison, 1 haircut, 2 fifo, 3 lifo, 4 tiho (:data:`POLICY_CODES`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kinko.domain.trace._compiled import grown
from kinko.domain.trace._int128 import mul_div_floor

POLICY_CODES = {"poison": 0, "haircut": 1, "fifo": 2, "lifo": 3, "tiho": 4}
_POISON, _HAIRCUT, _FIFO, _LIFO, _TIHO = 0, 1, 2, 3, 4


@njit(cache=True)
def _haircut_shares(total, values, fee, shares):  # type: ignore[no-untyped-def]
    """⌊T·o_i/D⌋ per output (D = Σo + fee); the rest beyond the fee one unit each to the
    largest remainders, earlier outputs first on ties."""
    k = values.shape[0]
    denom = fee
    for n in range(k):
        denom += values[n]
    given = 0
    for n in range(k):
        shares[n] = mul_div_floor(total, values[n], denom)
        given += shares[n]
    rest = total - given - fee
    if rest > 0:
        rems = np.empty(k, np.int64)
        ud = np.uint64(denom)
        ut = np.uint64(total)
        for n in range(k):
            r = ut * np.uint64(values[n]) - np.uint64(shares[n]) * ud  # exact mod 2⁶⁴
            rems[n] = -np.int64(r)
        order = np.argsort(rems, kind="mergesort")
        for n in range(min(rest, k)):
            shares[order[n]] += 1


@njit(cache=True)
def _tiho_shares(total, values, shares):  # type: ignore[no-untyped-def]
    k = values.shape[0]
    neg = np.empty(k, np.int64)
    for n in range(k):
        neg[n] = -values[n]
        shares[n] = 0
    order = np.argsort(neg, kind="mergesort")
    for n in range(k):
        i = order[n]
        take = values[i] if values[i] < total else total
        shares[i] = take
        total -= take


@njit(cache=True)
def _utxo_kernel(policy, in_start, in_output, in_value, in_address, out_start,  # type: ignore[no-untyped-def]
                 out_value, out_address, fee, tx_seed, out_seed, stop, horizon, n_addr):
    n_tx = fee.shape[0]
    n_out = out_value.shape[0]
    lots = policy in (_FIFO, _LIFO)
    live = np.zeros(n_out, np.int64)
    output_taint = np.zeros(n_out, np.int64)
    received = np.zeros(n_addr, np.int64)
    absorbed = np.zeros(n_addr, np.int64)
    first = np.full(n_addr, -1, np.int64)
    hops = np.full(n_addr, -1, np.int64)
    burned = 0
    seeded = 0
    # FIFO/LIFO: the segments of live outputs, in an append-only pool
    cap = 1024 if lots else 1
    seg_amt = np.zeros(cap, np.int64)
    seg_knd = np.zeros(cap, np.int8)
    used = 0
    seg_off = np.zeros(n_out if lots else 1, np.int64)
    seg_cnt = np.zeros(n_out if lots else 1, np.int64)
    # scratch: the transaction's input sequence, the outputs' pieces, shares
    sq_amt = np.zeros(64, np.int64)
    sq_knd = np.zeros(64, np.int8)
    pc_amt = np.zeros(64, np.int64)
    pc_knd = np.zeros(64, np.int8)
    pc_off = np.zeros(65, np.int64)
    shares = np.zeros(64, np.int64)
    for i in range(n_tx):
        i0 = in_start[i]
        i1 = in_start[i + 1]
        o0 = out_start[i]
        o1 = out_start[i + 1]
        k = o1 - o0
        total = 0
        hop = -1
        tainted = False
        for q in range(i0, i1):
            j = in_output[q]
            if j >= 0 and live[j] > 0:
                tainted = True
                total += live[j]
                h = hops[in_address[q]]
                if hop < 0 or h < hop:
                    hop = h
        hop = 1 + (hop if hop >= 0 else 0)
        seeds = tx_seed[i]
        if not seeds:
            for j in range(o0, o1):
                if out_seed[j]:
                    seeds = True
                    break
        if not tainted and not seeds:
            continue
        if shares.shape[0] < k:
            shares = np.zeros(2 * k, np.int64)
            pc_off = np.zeros(2 * k + 1, np.int64)
        values = out_value[o0:o1]
        npieces = 0
        if total == 0:
            for n in range(k):
                shares[n] = 0
        elif policy == _POISON:
            for n in range(k):
                shares[n] = values[n]
        elif policy == _HAIRCUT:
            # as int64, not the literal 0 it may still be: one compilation, not two
            _haircut_shares(np.int64(total), values, fee[i], shares)
        elif policy == _TIHO:
            _tiho_shares(np.int64(total), values, shares)
        else:
            # the inputs' segments end to end (a clean input: one clean segment)
            ns = 0
            for q in range(i0, i1):
                j = in_output[q]
                need = ns + seg_cnt[j] if j >= 0 and live[j] > 0 else ns + 1
                if need > sq_amt.shape[0]:
                    size = 2 * need
                    sq_amt = grown(sq_amt, size)
                    sq_knd = grown(sq_knd, size)
                if j >= 0 and live[j] > 0:
                    for s in range(seg_off[j], seg_off[j] + seg_cnt[j]):
                        sq_amt[ns] = seg_amt[s]
                        sq_knd[ns] = seg_knd[s]
                        ns += 1
                else:
                    sq_amt[ns] = in_value[q]
                    sq_knd[ns] = 0
                    ns += 1
            if policy == _LIFO:
                for s in range(ns // 2):  # reversed in place
                    sq_amt[s], sq_amt[ns - 1 - s] = sq_amt[ns - 1 - s], sq_amt[s]
                    sq_knd[s], sq_knd[ns - 1 - s] = sq_knd[ns - 1 - s], sq_knd[s]
            if pc_amt.shape[0] < ns + k:
                size = 2 * (ns + k)
                pc_amt = grown(pc_amt, size)
                pc_knd = grown(pc_knd, size)
            pos = 0
            left = sq_amt[0] if ns > 0 else 0
            for n in range(k):
                pc_off[n] = npieces
                size = values[n]
                got = 0
                first_piece = npieces
                while size > 0:
                    while left == 0:
                        pos += 1
                        left = sq_amt[pos]
                    kind = sq_knd[pos]
                    piece = left if left < size else size
                    if npieces > first_piece and pc_knd[npieces - 1] == kind:
                        pc_amt[npieces - 1] += piece
                    else:
                        pc_amt[npieces] = piece
                        pc_knd[npieces] = kind
                        npieces += 1
                    if kind == 1:
                        got += piece
                    left -= piece
                    size -= piece
                shares[n] = got
            pc_off[k] = npieces
        for q in range(i0, i1):  # spent: the taint now lives in the outputs and the fee
            j = in_output[q]
            if j >= 0:
                live[j] = 0
        if total > 0:
            if policy == _POISON:
                burned += fee[i]
            else:
                given = 0
                for n in range(k):
                    given += shares[n]
                burned += total - given
        for n in range(k):
            j = o0 + n
            taint = shares[n]
            h = hop
            seeded_here = tx_seed[i] or out_seed[j]
            if seeded_here:
                seeded += values[n] - taint
                taint = values[n]
                h = 1
            if taint == 0:
                continue
            a = out_address[j]
            output_taint[j] = taint
            received[a] += taint
            if first[a] < 0:
                first[a] = i
            if hops[a] < 0 or h < hops[a]:
                hops[a] = h
            if stop[a] or hops[a] >= horizon:
                absorbed[a] += taint
                continue
            live[j] = taint
            if lots:
                cnt = 1 if seeded_here else pc_off[n + 1] - pc_off[n]
                if used + cnt > seg_amt.shape[0]:
                    size = 2 * (used + cnt)
                    seg_amt = grown(seg_amt, size)
                    seg_knd = grown(seg_knd, size)
                seg_off[j] = used
                seg_cnt[j] = cnt
                if seeded_here:
                    seg_amt[used] = taint
                    seg_knd[used] = 1
                else:
                    for s in range(pc_off[n], pc_off[n + 1]):
                        seg_amt[used + s - pc_off[n]] = pc_amt[s]
                        seg_knd[used + s - pc_off[n]] = pc_knd[s]
                used += cnt
    held = np.zeros(n_addr, np.int64)
    for j in range(n_out):
        if live[j] > 0:
            held[out_address[j]] += live[j]
    return output_taint, received, held, absorbed, first, hops, burned, seeded
