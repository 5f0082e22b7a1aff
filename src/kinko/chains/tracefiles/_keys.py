"""The uniqueness checks over the transfers' positions and transaction keys, compiled.

:func:`~kinko.chains.tracefiles._std._check_unique` asks, over the transfers in processing
order: which neighbours share a position (block, tx_index, log_index), which neighbours of
one transaction (block, tx_index) carry two different keys (64-bit hashes of the
transaction hash as written), and which keys start two transactions. The first two are one
pass (:func:`neighbours`); the third is a radix partition of the transactions' keys by
their top bits and a sort of each small part (:func:`repeated_keys`), so that no array of
the size of the chain is made but one buffer of the keys (a full sort of 50M keys, with the
positions and copies it needs, was most of the check). Both give exactly what the numpy
expressions they replace gave: positions in increasing order, keys in increasing order, at
most ``most`` of each.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from kinko.chains.tracefiles._common import Ints

_PART = 256  # keys per part of the partition, about


@njit(cache=True, nogil=True)
def _neighbours(block, tx_index, log_index, tx_key, most):  # type: ignore[no-untyped-def]
    same = np.empty(most, np.int64)
    clash = np.empty(most, np.int64)
    n_same = n_clash = 0
    starts = 1 if block.shape[0] else 0
    for i in range(block.shape[0] - 1):
        if block[i + 1] == block[i] and tx_index[i + 1] == tx_index[i]:
            if log_index[i + 1] == log_index[i] and n_same < most:
                same[n_same] = i
                n_same += 1
            if tx_key[i + 1] != tx_key[i] and n_clash < most:
                clash[n_clash] = i
                n_clash += 1
        else:
            starts += 1
    return same[:n_same], clash[:n_clash], starts


def neighbours(block: Ints, tx_index: Ints, log_index: Ints,
               tx_key: npt.NDArray[np.uint64], most: int) -> tuple[Ints, Ints, int]:
    """The first ``most`` positions ``i`` where transfer ``i + 1`` is at the position of
    transfer ``i``; the first ``most`` where it is in the same transaction but carries
    another key; and how many transactions there are."""
    same, clash, starts = _neighbours(block, tx_index, log_index, tx_key, most)
    return np.asarray(same), np.asarray(clash), int(starts)


@njit(cache=True, nogil=True)
def _repeated(block, tx_index, tx_key, starts, bits, most):  # type: ignore[no-untyped-def]
    shift = np.uint64(64 - bits)
    parts = 1 << bits
    bounds = np.zeros(parts + 1, np.int64)
    n = block.shape[0]
    for i in range(n):  # count each transaction's key in its part
        if i == 0 or block[i] != block[i - 1] or tx_index[i] != tx_index[i - 1]:
            part = np.int64(tx_key[i] >> shift) if bits else 0
            bounds[part + 1] += 1
    for p in range(parts):
        bounds[p + 1] += bounds[p]
    keys = np.empty(starts, np.uint64)
    fill = bounds[:-1].copy()
    for i in range(n):
        if i == 0 or block[i] != block[i - 1] or tx_index[i] != tx_index[i - 1]:
            part = np.int64(tx_key[i] >> shift) if bits else 0
            keys[fill[part]] = tx_key[i]
            fill[part] += 1
    found = np.empty(most, np.uint64)
    count = 0
    for p in range(parts):  # the parts in key order: the repeats come out sorted
        a, z = bounds[p], bounds[p + 1]
        if z - a < 2:
            continue
        chunk = keys[a:z]
        chunk.sort()
        for j in range(1, z - a):
            if chunk[j] == chunk[j - 1]:
                found[count] = chunk[j]
                count += 1
                if count == most:
                    return found
    return found[:count]


def repeated_keys(block: Ints, tx_index: Ints, tx_key: npt.NDArray[np.uint64], starts: int,
                  most: int) -> npt.NDArray[np.uint64]:
    """The keys of the transactions (runs of one block and tx_index; ``starts`` of them)
    sorted, each once for every transaction after its first that has it, the first
    ``most``: ``np.sort(keys)[1:][sorted[1:] == sorted[:-1]][:most]``."""
    if starts < 2 or most <= 0:
        return np.zeros(0, np.uint64)
    bits = min(16, max(0, (starts // _PART).bit_length() - 1))
    return np.asarray(_repeated(block, tx_index, tx_key, starts, bits, most))
