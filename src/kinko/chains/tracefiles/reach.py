"""The part of a chain a trace can reach: :func:`reduce_reachable` and :func:`reduce_seeds`.

The time-respecting reachable set from the seeds is a least fixpoint of joins, computed in
SQL that DuckDB runs here (semi-naive iteration: each round a plain join and group-by, which
a distributed engine could run as well); the transfers touching it are kept, which is exact
for every policy (the proof is in :func:`reduce_reachable`'s docstring).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from kinko.chains.tracefiles._common import Ints, _arrow, _connect, _ints
from kinko.domain.trace.model import AccountSeeds, AccountTransfers

MOST = 0.9  # reduce_reachable returns the whole chain when it would keep this share or more


def reduce_reachable(
    transfers: AccountTransfers, seed_positions: npt.ArrayLike,
    seed_addresses: Iterable[tuple[int, int] | tuple[int, int, int | None]],
) -> tuple[AccountTransfers, Ints]:
    """The transfers a trace from these seeds can need, and their original positions.

    ``seed_positions``: positions of the seed transfers (or a boolean mask over the transfers,
    as :attr:`AccountSeeds.transfers`); ``seed_addresses``: (address id, position from which it
    holds taint[, amount]), as :attr:`AccountSeeds.addresses`. The result keeps the address ids
    (and ``addresses``) of the input, so per-address results compare directly; map seeds with
    :func:`reduce_seeds` and per-transfer results back with the returned positions.

    **What is kept.** An address can hold taint from time ``t(a)``: a seed address from its
    seed position, the receiver of a seed transfer at ``p`` from ``p + 1``, and the receiver of
    any transfer at ``q`` from a sender with ``t(x) ≤ q`` from ``q + 1`` (the earliest such
    time wins). These ``t`` are the least fixpoint of joins, computed in SQL by DuckDB as
    semi-naive iteration (each round joins the transfers only with the addresses whose
    ``t`` improved in the round before; each round is a plain join and group-by that a
    distributed engine runs as well)::

        cand  = SELECT x.dst, min(x.pos) + 1 FROM x JOIN delta d ON x.src = d.addr
                WHERE x.pos >= d.t GROUP BY x.dst
        delta = cand rows that are new or earlier than reach;  reach = reach ∪ delta

    Kept: every transfer from or to a reachable address (one with a ``t``), at any time, and
    the transfer at each seed address's position (so that the position, which the kernels
    report as that address's ``first_tainted``, maps back exactly; a transfer touching no
    reachable address changes nothing, see below). When that is :data:`MOST` of the chain or
    more, the chain itself is returned (with positions ``0..n-1``), rather than a copy.

    **Why exact, for each policy.** Every policy's state is per address (poison: balance and
    the poisoned flag; haircut: balance and taint; FIFO/LIFO: the sequence of clean and
    tainted lots) and changes only with the transfers into or out of that address. A transfer
    carries taint only if its sender holds taint then, which needs a seed or an earlier
    transfer carrying taint into it: by induction over positions, every address that holds
    taint in the full trace has a ``t`` no later than its first taint (stops and the hop
    horizon only remove taint, so the set is a superset). A dropped transfer touches no
    reachable address, so it carries no taint and changes only addresses that never hold
    any. Each reachable address sees exactly the same transfers in the same order (its
    clean history before its first taint included: the balance for haircut and poison, the
    clean lots ahead of the taint for FIFO/LIFO, the top-ups of incomplete history), with the
    same incoming taint by induction; so flows, received, sent, held, absorbed, first
    tainted, hops, burned and seeded are identical, and every other address has none in
    either run.
    """
    n = len(transfers)
    positions = np.asarray(seed_positions)
    if positions.dtype == np.bool_:
        positions = np.flatnonzero(positions)
    positions = positions.astype(np.int64, copy=False).reshape(-1)
    pairs = [(int(s[0]), int(s[1])) for s in seed_addresses]
    marks = "[" + ", ".join(str(p) for _, p in pairs) + "]::BIGINT[]"
    seeds = pa.table({
        "addr": np.concatenate([transfers.dst[positions],
                                np.array([a for a, _ in pairs], dtype=np.int64)]),
        "t": np.concatenate([positions + 1, np.array([p for _, p in pairs], dtype=np.int64)])})
    edges = pa.table({"pos": np.arange(n, dtype=np.int64), "src": transfers.src,
                      "dst": transfers.dst})
    con = _connect()
    try:
        con.register("edges_in", edges)
        con.register("seeds_in", seeds)
        con.execute("CREATE TABLE x AS SELECT pos, src, dst FROM edges_in")
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
        kept_table = _arrow(con, "SELECT pos FROM x WHERE src IN (SELECT addr FROM reach) "
                                 "OR dst IN (SELECT addr FROM reach) "
                                 f"OR pos IN (SELECT p FROM unnest({marks}) AS m(p))")
    finally:
        con.close()
    kept = np.sort(_ints(kept_table["pos"]))
    if len(kept) >= MOST * n:  # hardly smaller: keep everything (exact too) and copy nothing
        return transfers, np.arange(n, dtype=np.int64)
    return _take(transfers, kept), kept


def _take(t: AccountTransfers, kept: Ints) -> AccountTransfers:
    """The transfers at ``kept``; an empty ``tx_hash`` (hashes in a TxHashStore) stays empty."""
    return AccountTransfers(
        src=t.src[kept], dst=t.dst[kept], value=t.value[kept], fee=t.fee[kept],
        block=t.block[kept], tx_index=t.tx_index[kept], log_index=t.log_index[kept],
        tx_hash=t.tx_hash[kept] if len(t.tx_hash) == len(t) else t.tx_hash,
        addresses=t.addresses)


def reduce_seeds(seeds: AccountSeeds, kept: Ints) -> AccountSeeds:
    """The seeds in the positions of transfers reduced to ``kept`` (from :func:`reduce_reachable`
    with these seeds, which keeps every seed address's position: it maps to its index in
    ``kept``; a position after the last transfer maps to ``len(kept)``)."""
    return AccountSeeds(
        transfers=np.asarray(seeds.transfers, dtype=np.bool_)[kept],
        addresses=tuple((a, int(np.searchsorted(kept, p)), amount)
                        for a, p, amount in seeds.addresses))
