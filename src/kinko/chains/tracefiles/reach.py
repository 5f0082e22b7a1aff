"""The part of a chain a trace can reach: :func:`reduce_reachable` and :func:`reduce_seeds`.

An address can hold taint from time ``t(a)``: a seed address from its seed position, the
receiver of a seed transfer at ``p`` from ``p + 1``, and the receiver of any transfer at ``q``
from a sender with ``t(x) ≤ q`` that is not a stop from ``q + 1`` (the earliest such time
wins). The ``t`` are computed here in one compiled pass over the transfers in order
(:func:`reachable_times`: each ``t`` set at position ``q`` is ``q + 1``, so one pass reaches
the least fixpoint); :func:`reachable_times_sql` computes the same ``t`` as a least fixpoint of
joins in SQL (semi-naive iteration, each round a plain join and group-by), the formulation
the Spark engine runs on a cluster (:mod:`kinko.chains.tracefiles.spark`), checked against the
pass by the tests. The transfers a trace can need are then kept (:func:`kept_positions`); the
proof that the trace of the kept ones is the trace of all of them is in
:func:`reduce_reachable`'s docstring.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from numba import njit

from kinko.chains.tracefiles._common import Ints, _arrow, _connect, _ints
from kinko.domain.trace.model import AccountSeeds, AccountTransfers

MOST = 0.9  # reduce_reachable returns the whole chain when it would keep this share or more
NEVER = np.iinfo(np.int64).max  # t of an address no seed reaches


@njit(cache=True, nogil=True)
def _times(src, dst, seed_tx, seed_addr, seed_pos, stop, n_addr):  # type: ignore[no-untyped-def]
    t = np.full(n_addr, NEVER, np.int64)
    for s in range(seed_addr.shape[0]):
        if seed_pos[s] < t[seed_addr[s]]:
            t[seed_addr[s]] = seed_pos[s]
    for k in range(src.shape[0]):
        x = src[k]
        if seed_tx[k] or (t[x] <= k and not stop[x]):
            y = dst[k]
            if k + 1 < t[y]:
                t[y] = k + 1
    return t


def _inputs(transfers: AccountTransfers, seed_positions: npt.ArrayLike,
            seed_addresses: Iterable[tuple[int, int] | tuple[int, int, int | None]],
            stops: npt.NDArray[np.bool_] | None
            ) -> tuple[npt.NDArray[np.bool_], list[tuple[int, int]], npt.NDArray[np.bool_]]:
    n = len(transfers)
    n_addr = int(np.asarray(transfers.addresses).shape[0])
    given = np.asarray(seed_positions)
    if given.dtype == np.bool_:
        mask = given.reshape(-1).copy()
    else:
        mask = np.zeros(n, dtype=np.bool_)
        mask[given.astype(np.int64, copy=False).reshape(-1)] = True
    pairs = [(int(s[0]), int(s[1])) for s in seed_addresses]
    stop = np.zeros(n_addr, dtype=np.bool_) if stops is None else np.asarray(stops, np.bool_)
    return mask, pairs, stop


def reachable_times(transfers: AccountTransfers, seed_positions: npt.ArrayLike,
                    seed_addresses: Iterable[tuple[int, int] | tuple[int, int, int | None]],
                    stops: npt.NDArray[np.bool_] | None = None) -> Ints:
    """Per address, the position from which it can hold taint (:data:`NEVER`: none); the
    arguments as :func:`reduce_reachable`'s."""
    mask, pairs, stop = _inputs(transfers, seed_positions, seed_addresses, stops)
    return np.asarray(_times(
        np.asarray(transfers.src, np.int64), np.asarray(transfers.dst, np.int64), mask,
        np.array([a for a, _ in pairs], dtype=np.int64),
        np.array([p for _, p in pairs], dtype=np.int64), stop,
        int(np.asarray(transfers.addresses).shape[0])))


def reachable_times_sql(transfers: AccountTransfers, seed_positions: npt.ArrayLike,
                        seed_addresses: Iterable[tuple[int, int] | tuple[int, int, int | None]],
                        stops: npt.NDArray[np.bool_] | None = None) -> Ints:
    """:func:`reachable_times` as a least fixpoint of joins, run by DuckDB (semi-naive: each
    round joins the transfers only with the addresses whose ``t`` improved in the round
    before)::

        cand  = SELECT x.dst, min(x.pos) + 1 FROM x JOIN delta d ON x.src = d.addr
                WHERE x.pos >= d.t AND NOT d.stop GROUP BY x.dst
        delta = cand rows that are new or earlier than reach;  reach = reach ∪ delta

    The Spark engine runs the same rounds; this one is the tests' check of the formulation."""
    mask, pairs, stop = _inputs(transfers, seed_positions, seed_addresses, stops)
    positions = np.flatnonzero(mask)
    n = len(transfers)
    n_addr = int(np.asarray(transfers.addresses).shape[0])
    seeds = pa.table({
        "addr": np.concatenate([np.asarray(transfers.dst)[positions],
                                np.array([a for a, _ in pairs], dtype=np.int64)]),
        "t": np.concatenate([positions + 1, np.array([p for _, p in pairs], dtype=np.int64)])})
    edges = pa.table({"pos": np.arange(n, dtype=np.int64), "src": transfers.src,
                      "dst": transfers.dst})
    con = _connect()
    try:
        con.register("edges_in", edges)
        con.register("seeds_in", seeds)
        con.register("stops_in", pa.table({"addr": np.flatnonzero(stop).astype(np.int64)}))
        con.execute("CREATE TABLE x AS SELECT pos, src, dst FROM edges_in "
                    "WHERE src NOT IN (SELECT addr FROM stops_in)")
        con.execute("CREATE TABLE reach AS SELECT addr, min(t) AS t FROM seeds_in GROUP BY addr")
        con.execute("CREATE TABLE delta AS SELECT addr, t FROM reach")
        while True:
            lo = con.execute("SELECT min(t) FROM delta").fetchall()[0]
            if lo[0] is None:
                break
            con.execute(
                "CREATE OR REPLACE TABLE cand AS SELECT x.dst AS addr, min(x.pos) + 1 AS t "
                "FROM x JOIN delta d ON x.src = d.addr "
                f"WHERE x.pos >= d.t AND x.pos >= {int(lo[0])} GROUP BY x.dst")
            con.execute(
                "CREATE OR REPLACE TABLE delta AS SELECT c.addr, c.t FROM cand c "
                "LEFT JOIN reach r ON c.addr = r.addr WHERE r.t IS NULL OR c.t < r.t")
            con.execute(
                "CREATE OR REPLACE TABLE reach AS SELECT addr, min(t) AS t FROM "
                "(SELECT * FROM reach UNION ALL SELECT * FROM delta) GROUP BY addr")
        found = _arrow(con, "SELECT addr, t FROM reach")
    finally:
        con.close()
    t = np.full(n_addr, NEVER, dtype=np.int64)
    t[_ints(found["addr"])] = _ints(found["t"])
    return t


def kept_positions(transfers: AccountTransfers, times: Ints, seed_addresses: Iterable[
        tuple[int, int] | tuple[int, int, int | None]],
                   stops: npt.NDArray[np.bool_] | None = None) -> Ints:
    """The positions of the transfers a trace can need, given each address's ``t``: into a
    reachable address, out of a reachable address that is not a stop (or is a seed address:
    its balance at the seed's position is what it absorbs), and each seed address's
    position."""
    return np.flatnonzero(_keep_mask(transfers, times, seed_addresses, stops)).astype(np.int64)


def _keep_mask(transfers: AccountTransfers, times: Ints, seed_addresses: Iterable[
        tuple[int, int] | tuple[int, int, int | None]],
               stops: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.bool_]:
    """:func:`kept_positions` as a mask over the transfers."""
    reached = times != NEVER
    src, dst = np.asarray(transfers.src), np.asarray(transfers.dst)
    pairs = [(int(s[0]), int(s[1])) for s in seed_addresses]
    spreads = reached
    if stops is not None and bool(np.any(stops)):
        quiet = np.asarray(stops, dtype=np.bool_).copy()
        quiet[[a for a, _ in pairs]] = False  # a seed's balance sets what it absorbs
        spreads = reached & ~quiet
    keep: npt.NDArray[np.bool_] = reached[dst] | spreads[src]
    marks = np.array([p for _, p in pairs], dtype=np.int64)
    keep[marks[marks < len(transfers)]] = True
    return keep


def reduce_reachable(
    transfers: AccountTransfers, seed_positions: npt.ArrayLike,
    seed_addresses: Iterable[tuple[int, int] | tuple[int, int, int | None]],
    stops: npt.NDArray[np.bool_] | None = None,
) -> tuple[AccountTransfers, Ints | None]:
    """The transfers a trace from these seeds can need, and their original positions
    (``None``: the chain itself, every transfer at its own position).

    ``seed_positions``: positions of the seed transfers (or a boolean mask over the transfers,
    as :attr:`AccountSeeds.transfers`); ``seed_addresses``: (address id, position from which it
    holds taint[, amount]), as :attr:`AccountSeeds.addresses`; ``stops``: per address, taint
    arriving there is absorbed (the trace's stops). The result keeps the address ids (and
    ``addresses``) of the input, so per-address results compare directly; map seeds with
    :func:`reduce_seeds` and per-transfer results back with the returned positions.

    **What is kept** (:func:`kept_positions`, from :func:`reachable_times`): every transfer into
    a reachable address (one with a ``t``), every transfer out of a reachable address that is
    not a stop, at any time, and the transfer at each seed address's position (so that the
    position, which the kernels report as that address's ``first_tainted``, maps back
    exactly). When that is :data:`MOST` of the chain or more, the chain itself is returned
    with positions ``None``, rather than a copy (and no chain-sized ``0..n-1``: on a large
    chain, building it and gathering the seeds and hashes through it cost seconds).

    **Why exact, for each policy.** Every policy's state is per address (poison: balance and
    the poisoned flag; haircut: balance and taint; FIFO/LIFO: the sequence of clean and
    tainted lots) and changes only with the transfers into or out of that address. A transfer
    carries taint only if its sender holds taint then, which needs a seed or an earlier
    transfer carrying taint into it: by induction over positions, every address that holds
    taint in the full trace has a ``t`` no later than its first taint (the hop horizon only
    removes taint, so the set is a superset). A stop never holds taint (what arrives there is
    absorbed, and a seed address that is a stop absorbs its seed at once), so nothing it
    sends carries taint: its ``t`` need not spread, and what it sends changes only its own
    balance, which no result reads (but for a stop that is a seed address: what it absorbs
    is its balance then, so its transfers are kept), and the receiver's, kept when the
    receiver is reachable.
    A dropped transfer touches no other reachable address, so it carries no taint and changes
    only addresses that never hold any. Each reachable address sees exactly the same transfers
    into it, and a reachable non-stop address the same transfers out of it, in the same order
    (its clean history before its first taint included: the balance for haircut and poison,
    the clean lots ahead of the taint for FIFO/LIFO, the top-ups of incomplete history), with
    the same incoming taint by induction; so flows, received, sent, held, absorbed, first
    tainted, hops, burned and seeded are identical, and every other address has none in
    either run.
    """
    n = len(transfers)
    pairs = list(seed_addresses)
    times = reachable_times(transfers, seed_positions, pairs, stops)
    keep = _keep_mask(transfers, times, pairs, stops)
    if np.count_nonzero(keep) >= MOST * n:  # hardly smaller: keep everything (exact too)
        return transfers, None  # and copy nothing
    kept = np.flatnonzero(keep).astype(np.int64)
    return _take(transfers, kept), kept


def _take(t: AccountTransfers, kept: Ints) -> AccountTransfers:
    """The transfers at ``kept``; an empty ``tx_hash`` (hashes in a TxHashStore) stays empty."""
    return AccountTransfers(
        src=t.src[kept], dst=t.dst[kept], value=t.value[kept], fee=t.fee[kept],
        block=t.block[kept], tx_index=t.tx_index[kept], log_index=t.log_index[kept],
        tx_hash=t.tx_hash[kept] if len(t.tx_hash) == len(t) else t.tx_hash,
        addresses=t.addresses)


def reduce_seeds(seeds: AccountSeeds, kept: Ints | None) -> AccountSeeds:
    """The seeds in the positions of transfers reduced to ``kept`` (from :func:`reduce_reachable`
    with these seeds, which keeps every seed address's position: it maps to its index in
    ``kept``; a position after the last transfer maps to ``len(kept)``). ``None`` (the whole
    chain): the seeds themselves."""
    if kept is None:
        return seeds
    return AccountSeeds(
        transfers=np.asarray(seeds.transfers, dtype=np.bool_)[kept],
        addresses=tuple((a, int(np.searchsorted(kept, p)), amount)
                        for a, p, amount in seeds.addresses))
