"""Tracing stolen funds: seeds in, taint per address and per transfer out, exposure per
labelled entity, and the totals that must add up.

The engine reads transfers into the arrays of :mod:`kinko.domain.trace.model` (files
through :mod:`kinko.chains.tracefiles`, a live chain through the ``Chain`` port), resolves
the seeds (``--seed-tx HASH``, ``--seed-address ADDR[@BLOCK][=AMOUNT]``) against them, marks
the stop addresses (labelled with a stop category, ``exchange`` by default: taint that
reaches an exchange is its exposure and spreads no further), runs the policy's kernel and
sums the exposure per entity (the TagPack ``actor``, else its ``label``).

Conservation is checked, not assumed: for haircut, FIFO, LIFO and TIHO the seeded taint
must equal what is held, burned in fees, absorbed at stops and left at the hop limit
(``--max-hops``: taint the trace stopped following, which reached no stop), exactly; poison
multiplies taint by design and is reported without the check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kinko.domain import trace as kernels  # numba's kernels load with the first trace
from kinko.domain.addresses import address_key, locate_addresses
from kinko.domain.chain import Transfer
from kinko.domain.labels import as_tags, has_category, primary_label
from kinko.domain.messages import msg
from kinko.domain.screening import Label
from kinko.domain.trace.model import (
    ACCOUNT_POLICIES,
    UTXO_POLICIES,
    AccountResult,
    AccountSeeds,
    AccountTransfers,
    Policy,
    Reduced,
    UtxoSeeds,
    UtxoTransactions,
)
from kinko.errors import BadInput
from kinko.safeload import whole_number

__all__ = ["Exposure", "Reduced", "SeedAddress", "TraceReport", "TransferSource",
           "account_transfers", "parse_seed_address", "resolve_seeds", "run_trace",
           "run_trace_on", "run_utxo_trace"]


def account_transfers(records: Iterable[Transfer]) -> AccountTransfers:
    """Transfers read from a chain (``Chain.block``) as trace arrays, in processing order."""
    rows = sorted(records, key=lambda r: (r.block, r.tx_index,
                                          -1 if r.log_index is None else r.log_index))
    ids: dict[str, int] = {}
    names: list[str] = []

    def ident(address: str) -> int:
        key = address_key(address)
        if key not in ids:
            ids[key] = len(names)
            names.append(key)
        return ids[key]

    src = np.array([ident(r.sender) for r in rows], dtype=np.int64)
    dst = np.array([ident(r.to or "") for r in rows], dtype=np.int64)
    big = any(r.value >= 2**63 for r in rows)
    value = np.array([r.value for r in rows], dtype=object if big else np.int64)
    fee = np.zeros(len(rows), dtype=object if big else np.int64)
    if big:
        fee[:] = 0
    return AccountTransfers(
        src=src, dst=dst, value=value, fee=fee,
        block=np.array([r.block for r in rows], dtype=np.int64),
        tx_index=np.array([r.tx_index for r in rows], dtype=np.int64),
        log_index=np.array([r.log_index or 0 for r in rows], dtype=np.int64),
        tx_hash=np.array([r.tx_hash.lower() for r in rows], dtype=object),
        addresses=np.array(names, dtype=object))


@dataclass(frozen=True)
class SeedAddress:
    address: str
    block: int | None = None  # taint from this block on (default: from its first transfer)
    amount: int | None = None  # minor units (default: its whole balance)


def parse_seed_address(spec: str) -> SeedAddress:
    """``ADDR[@BLOCK][=AMOUNT]`` (AMOUNT in minor units, a whole number)."""
    text = spec.strip()
    amount = block = None
    if "=" in text:
        text, _, raw = text.partition("=")
        amount = whole_number(raw, digits=40)
        if amount is None:
            raise BadInput(f"--seed-address {spec!r}: the amount after '=' must be a whole "
                           "number of minor units",
                           says=msg("error.trace.seed_amount", spec=spec[:200]))
    if "@" in text:
        text, _, raw = text.partition("@")
        block = whole_number(raw)
        if block is None:
            raise BadInput(f"--seed-address {spec!r}: the block after '@' must be a whole "
                           "number", says=msg("error.trace.seed_block", spec=spec[:200]))
    if not text.strip():
        raise BadInput(f"--seed-address {spec!r}: no address",
                       says=msg("error.trace.seed_no_address", spec=spec[:200]))
    return SeedAddress(text.strip(), block, amount)


@dataclass(frozen=True)
class Exposure:
    entity: str
    category: str
    taint: int
    addresses: int


TxFinder = Callable[[set[str]], dict[str, list[int]]]
"""Lower-cased transaction hashes → positions (increasing) of the transfers holding them."""
HashesOf = Callable[["np.ndarray"], Any]
"""Positions of transfers → their transaction hashes (a list of str, or an Arrow string
array)."""


@dataclass
class TraceReport:
    policy: Policy
    transfers: AccountTransfers
    result: AccountResult
    seeds: dict[str, Any]
    stops: np.ndarray  # per address
    labels: dict[int, Label]  # address id → label, for labelled addresses in the data
    exposure: list[Exposure]
    seconds: dict[str, float] = field(default_factory=dict)
    # the hashes of the report's transfers when ``transfers.tx_hash`` does not hold them
    tx_hashes: HashesOf | None = None
    # addresses read and stops among them, when ``transfers`` holds only those a trace
    # reached (an engine that reduces before collecting: Spark)
    address_count: int | None = None
    stop_count: int | None = None
    engine: str = "duckdb"
    stats: dict[str, int] = field(default_factory=dict)

    def hashes_of(self, positions: Sequence[int] | np.ndarray) -> Any:
        """The transaction hashes of the report's transfers at ``positions`` (a list of str,
        or an Arrow string array when the engine keeps them in a file)."""
        if self.tx_hashes is not None:
            return self.tx_hashes(np.asarray(positions, dtype=np.int64))
        return [str(self.transfers.tx_hash[j]) for j in positions]

    @property
    def conserved(self) -> bool | None:
        """seeded = held + burned + absorbed at stops + left at the hop limit (None for
        poison, which multiplies taint)."""
        if self.policy == "poison":
            return None
        r = self.result
        absorbed, at_hop_limit = self.absorbed_split()
        return int(r.seeded) == _total(r.held) + int(r.burned) + absorbed + at_hop_limit

    def absorbed_split(self) -> tuple[int, int]:
        """The taint the kernel absorbed, split: (reached a stop, left at the hop limit).

        The kernel absorbs taint at stops and at addresses ``max_hops`` from a seed alike;
        a stop absorbs only as a stop, and any other address absorbs only because the
        trace went no further (an address that is both counts as a stop)."""
        absorbed = np.asarray(self.result.absorbed)
        stops = np.asarray(self.stops, dtype=np.bool_)
        return _total(absorbed[stops]), _total(absorbed[~stops])

    def summary(self) -> dict[str, Any]:
        """What the trace found, the same whichever engine ran it (timings are apart, in
        :attr:`seconds`). ``totals.absorbed`` is the taint that reached stops (exchanges);
        ``totals.at_hop_limit`` the taint the trace stopped following at ``--max-hops``:
        seeded = held + burned + absorbed + at_hop_limit."""
        r = self.result
        held = _total(r.held)
        absorbed, at_hop_limit = self.absorbed_split()
        tainted = int(np.count_nonzero(np.greater(r.received, 0)))
        flows = int(np.count_nonzero(np.greater(r.flow, 0)))
        return {
            "policy": self.policy, "seeds": self.seeds,
            "totals": {"seeded": int(r.seeded), "held": held, "burned": int(r.burned),
                       "absorbed": absorbed, "at_hop_limit": at_hop_limit},
            "conservation": {"checked": self.conserved is not None,
                             "holds": self.conserved,
                             "difference": None if self.policy == "poison" else
                             int(r.seeded) - held - int(r.burned) - absorbed - at_hop_limit},
            "counts": {"transfers": len(self.transfers),
                       "addresses": int(self.transfers.addresses.shape[0])
                       if self.address_count is None else self.address_count,
                       "tainted_addresses": tainted, "tainted_transfers": flows,
                       "stops": int(np.count_nonzero(self.stops))
                       if self.stop_count is None else self.stop_count,
                       "exposed_entities": len(self.exposure)},
        }

    def timings(self) -> dict[str, Any]:
        """Where the time went, by stage (seconds), and which engine ran."""
        return {"engine": self.engine,
                "seconds": {k: round(v, 6) for k, v in self.seconds.items()},
                **({"stats": self.stats} if self.stats else {})}


def _total(values: Any) -> int:
    """The exact sum of non-negative amounts (int64 in two halves that cannot overflow, or
    Python ints)."""
    arr = np.asarray(values)
    if arr.dtype == object:
        return int(sum(int(v) for v in arr))
    return (int(np.sum(arr >> 32)) << 32) + int(np.sum(arr & 0xFFFFFFFF))


def _positions_by_hash(transfers: AccountTransfers, wanted: set[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for i, h in enumerate(transfers.tx_hash):
        key = str(h).lower()
        if key in wanted:
            found.setdefault(key, []).append(i)
    return found


def resolve_seeds(transfers: AccountTransfers, seed_txs: Iterable[str],
                  seed_addresses: Iterable[SeedAddress], *, find_txs: TxFinder | None = None
                  ) -> tuple[AccountSeeds, dict[str, Any]]:
    """The seeds as arrays; an unknown transaction or address is refused by name.

    ``find_txs`` finds the seed transactions when ``transfers.tx_hash`` does not hold the
    hashes (an engine keeping them out of memory); by default they are looked up in it."""
    txs = [h.strip().lower() for h in seed_txs]
    addresses = list(seed_addresses)
    if not txs and not addresses:
        raise BadInput("a trace needs at least one seed (--seed-tx or --seed-address)",
                       says=msg("error.trace.needs_seed"))
    flags = np.zeros(len(transfers), dtype=np.bool_)
    found = (find_txs(set(txs)) if find_txs is not None
             else _positions_by_hash(transfers, set(txs)))
    missing = [h for h in txs if h not in found]
    if missing:
        raise BadInput(f"seed transaction {missing[0]} is not in the transfers read "
                       f"({len(missing)} missing)", seed=missing[0],
                       says=msg("error.seed_not_read", tx=missing[0][:200],
                                count=len(missing)))
    for positions in found.values():
        flags[positions] = True
    ids = locate_addresses(transfers.addresses, [s.address for s in addresses])
    resolved: list[tuple[int, int, int | None]] = []
    for seed in addresses:
        ident = ids.get(address_key(seed.address), [None])[0]
        if ident is None:
            raise BadInput(f"seed address {seed.address} does not appear in the transfers read",
                           seed=seed.address, says=msg("error.trace.seed_address_not_read",
                                                       address=seed.address[:200]))
        start = 0 if seed.block is None else int(np.searchsorted(transfers.block, seed.block))
        resolved.append((ident, start, seed.amount))
    described = {"transactions": txs,
                 "addresses": [{"address": s.address, "block": s.block, "amount": s.amount}
                               for s in addresses]}
    return AccountSeeds(flags, tuple(resolved)), described


Labels = Mapping[str, Label] | Mapping[str, tuple[Label, ...]]
"""Labels by :func:`~kinko.domain.labels.address_key`: one, or every tag, per address."""

Reducer = Callable[[AccountTransfers, AccountSeeds, "np.ndarray"],
                   tuple[AccountTransfers, AccountSeeds, "np.ndarray | None"]]
"""(transfers, seeds, stops per address) → the transfers the trace needs, the seeds in their
positions, and those positions in the transfers given (``None``: all of them, unchanged)."""


def run_trace(transfers: AccountTransfers, *, policy: Policy, seed_txs: Iterable[str] = (),
              seed_addresses: Iterable[SeedAddress] = (),
              labels: Labels | None = None,
              stop_categories: Iterable[str] = ("exchange",),
              max_hops: int | None = None, reduce: Reducer | None = None,
              find_txs: TxFinder | None = None, hashes_of: HashesOf | None = None
              ) -> TraceReport:
    """Trace ``transfers`` (account model) from the seeds under ``policy``.

    ``reduce`` (the engine's, e.g. DuckDB's time-respecting reachability) may first cut the
    transfers down to those the seeds can reach; per-address results are the same, and the
    report's transfers and flows are then the reduced ones.

    ``find_txs`` and ``hashes_of`` serve transfers whose ``tx_hash`` does not hold the hashes
    (a chain-sized file, its hashes kept out of memory by the engine): the first resolves
    ``seed_txs`` to positions (see :func:`resolve_seeds`), the second gives the hashes of
    positions of ``transfers`` as given here (the report maps the reduced positions back)."""
    if policy not in ACCOUNT_POLICIES:  # a caller's string, checked here
        raise BadInput(f"--policy must be one of {', '.join(ACCOUNT_POLICIES)} for account "
                       f"transfers, not {policy!r}",
                       says=msg("error.trace.account_policy",
                                policies=", ".join(ACCOUNT_POLICIES), policy=str(policy)[:80]))
    if max_hops is not None and max_hops < 1:
        raise BadInput("--max-hops must be at least 1", says=msg("error.trace.hops"))
    seeds, described = resolve_seeds(transfers, seed_txs, seed_addresses, find_txs=find_txs)
    known, stops = _stops(transfers.addresses, labels, stop_categories)
    read = len(transfers)
    seconds: dict[str, float] = {}
    tx_hashes = hashes_of
    if reduce is not None:
        started = time.perf_counter()
        transfers, seeds, kept = reduce(transfers, seeds, stops)
        seconds["reduce"] = time.perf_counter() - started
        if hashes_of is not None and kept is not None:  # None: every position, as it was
            tx_hashes = _through(hashes_of, np.asarray(kept, dtype=np.int64))
    described["transfers_read"] = read
    described["transfers_traced"] = len(transfers)
    trace_account = kernels.trace_account  # its first use loads it: before the clock
    started = time.perf_counter()
    try:
        result = trace_account(transfers, seeds, policy, stops=stops, max_hops=max_hops)
    except ValueError as exc:  # the data break a rule the loader could not see
        raise BadInput(f"the transfers cannot be traced: {exc}",
                       says=msg("error.trace.transfers_untraceable",
                                reason=str(exc)[:200])) from None
    seconds["kernel"] = time.perf_counter() - started
    exposure = _exposure(result, known)
    return TraceReport(policy, transfers, result, described, stops, known, exposure, seconds,
                       tx_hashes)


class TransferSource(Protocol):
    """Transfers kept where they were read (a Spark cluster), not in this process: the trace
    asks for the seeds, the labelled addresses and the reachable part, then runs the kernel
    on that part here. Positions and address ids are those of the transfers read, in
    processing order and in the order of their (normalised) text, as the file engines
    number them."""

    def read_count(self) -> int: ...
    def address_count(self) -> int: ...
    def find_txs(self, wanted: set[str]) -> dict[str, list[int]]: ...
    def position_of_block(self, block: int) -> int: ...
    def address_ids(self, keys: set[str]) -> dict[str, list[int]]: ...
    def reduce(self, seed_positions: np.ndarray, seed_addresses: list[tuple[int, int]],
               stop_ids: np.ndarray) -> Reduced: ...


def run_trace_on(source: TransferSource, *, policy: Policy, seed_txs: Iterable[str] = (),
                 seed_addresses: Iterable[SeedAddress] = (), labels: Labels | None = None,
                 stop_categories: Iterable[str] = ("exchange",), max_hops: int | None = None,
                 engine: str = "spark") -> TraceReport:
    """:func:`run_trace` on transfers a :class:`TransferSource` keeps: the same seeds, stops,
    reduction and kernel, so the same report (its transfers and addresses are the reachable
    part only; the counts of what was read come from the source)."""
    if policy not in ACCOUNT_POLICIES:
        raise BadInput(f"--policy must be one of {', '.join(ACCOUNT_POLICIES)} for account "
                       f"transfers, not {policy!r}",
                       says=msg("error.trace.account_policy",
                                policies=", ".join(ACCOUNT_POLICIES), policy=str(policy)[:80]))
    if max_hops is not None and max_hops < 1:
        raise BadInput("--max-hops must be at least 1", says=msg("error.trace.hops"))
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    txs = [h.strip().lower() for h in seed_txs]
    addresses = list(seed_addresses)
    if not txs and not addresses:
        raise BadInput("a trace needs at least one seed (--seed-tx or --seed-address)",
                       says=msg("error.trace.needs_seed"))
    found = source.find_txs(set(txs)) if txs else {}
    missing = [h for h in txs if h not in found]
    if missing:
        raise BadInput(f"seed transaction {missing[0]} is not in the transfers read "
                       f"({len(missing)} missing)", seed=missing[0],
                       says=msg("error.seed_not_read", tx=missing[0][:200],
                                count=len(missing)))
    positions = np.array(sorted({p for ps in found.values() for p in ps}), dtype=np.int64)
    seed_ids = source.address_ids({address_key(s.address) for s in addresses}) \
        if addresses else {}
    resolved: list[tuple[int, int, int | None]] = []
    for seed in addresses:
        ids = seed_ids.get(address_key(seed.address))
        if not ids:
            raise BadInput(f"seed address {seed.address} does not appear in the transfers read",
                           seed=seed.address, says=msg("error.trace.seed_address_not_read",
                                                       address=seed.address[:200]))
        start = 0 if seed.block is None else source.position_of_block(seed.block)
        resolved.append((min(ids), start, seed.amount))
    described: dict[str, Any] = {
        "transactions": txs,
        "addresses": [{"address": s.address, "block": s.block, "amount": s.amount}
                      for s in addresses]}
    categories = [c for c in stop_categories if c.strip()]
    tagged = as_tags(labels)
    labelled: dict[int, tuple[Label, ...]] = {}
    for key, ids in (source.address_ids(set(tagged)) if tagged else {}).items():
        for i in ids:
            labelled[i] = tagged[key]
    stop_ids = np.array(sorted(i for i, t in labelled.items() if has_category(t, categories)),
                        dtype=np.int64)
    seconds["seeds"] = time.perf_counter() - started
    started = time.perf_counter()
    reduced = source.reduce(positions, [(a, p) for a, p, _ in resolved], stop_ids)
    seconds["reduce"] = time.perf_counter() - started
    transfers, kept, dense = reduced.transfers, reduced.kept, reduced.ids
    flags = np.zeros(len(transfers), dtype=np.bool_)
    flags[np.searchsorted(kept, positions)] = True
    seeds = AccountSeeds(flags, tuple(
        (int(np.searchsorted(dense, a)), int(np.searchsorted(kept, p)), amount)
        for a, p, amount in resolved))
    stops = np.isin(dense, stop_ids)
    known = {int(j): primary_label(labelled[int(i)], categories)
             for j, i in enumerate(dense) if int(i) in labelled}
    described["transfers_read"] = source.read_count()
    described["transfers_traced"] = len(transfers)
    trace_account = kernels.trace_account  # its first use loads it: before the clock
    started = time.perf_counter()
    try:
        result = trace_account(transfers, seeds, policy, stops=stops, max_hops=max_hops)
    except ValueError as exc:  # the data break a rule the loader could not see
        raise BadInput(f"the transfers cannot be traced: {exc}",
                       says=msg("error.trace.transfers_untraceable",
                                reason=str(exc)[:200])) from None
    seconds["kernel"] = time.perf_counter() - started
    return TraceReport(policy, transfers, result, described, stops, known,
                       _exposure(result, known), seconds, reduced.hashes_of,
                       address_count=source.address_count(), stop_count=len(stop_ids),
                       engine=engine, stats=reduced.stats)


def _through(hashes_of: HashesOf, kept: np.ndarray) -> HashesOf:
    """``hashes_of`` for the transfers at positions ``kept`` of the original ones."""
    return lambda positions: hashes_of(kept[np.asarray(positions, dtype=np.int64)])


def _stops(addresses: np.ndarray, labels: Labels | None,
           stop_categories: Iterable[str]) -> tuple[dict[int, Label], np.ndarray]:
    """The label shown for each labelled address in the data, and which addresses absorb
    taint: those with any tag in a stop category (its category or one of its concepts)."""
    categories = [c for c in stop_categories if c.strip()]
    tagged = as_tags(labels)
    known: dict[int, Label] = {}
    stops = np.zeros(addresses.shape[0], dtype=np.bool_)
    if not tagged:
        return known, stops
    by_key: dict[str, tuple[Label, ...]] = {}
    for k, tags in tagged.items():  # two spellings of one address: one address's tags
        key = address_key(k)
        by_key[key] = tuple(dict.fromkeys((*by_key.get(key, ()), *tags)))
    for key, positions in locate_addresses(addresses, by_key).items():
        for i in positions:
            known[i] = primary_label(by_key[key], categories)
            stops[i] = has_category(by_key[key], categories)
    return known, stops


def run_utxo_trace(txs: UtxoTransactions, *, policy: Policy, seed_txs: Iterable[str] = (),
                   seed_addresses: Iterable[SeedAddress] = (),
                   labels: Labels | None = None,
                   stop_categories: Iterable[str] = ("exchange",),
                   max_hops: int | None = None) -> TraceReport:
    """Trace UTXO transactions. A seed transaction's outputs are stolen; a seed address's
    outputs (from its block on) are. The report's "transfers" are the outputs, each drawn
    from its transaction's largest input's address, so the same files and graph apply."""
    if policy not in UTXO_POLICIES:
        raise BadInput(f"--policy must be one of {', '.join(UTXO_POLICIES)}, not {policy!r}",
                       says=msg("error.trace.utxo_policy", policies=", ".join(UTXO_POLICIES),
                                policy=str(policy)[:80]))
    if max_hops is not None and max_hops < 1:
        raise BadInput("--max-hops must be at least 1", says=msg("error.trace.hops"))
    wanted = [h.strip().lower() for h in seed_txs]
    position = {str(x).lower(): i for i, x in enumerate(txs.txid)}
    missing = [h for h in wanted if h not in position]
    if missing:
        raise BadInput(f"seed transaction {missing[0]} is not in the transactions read",
                       seed=missing[0], says=msg("error.trace.seed_tx_not_in_transactions",
                                                 tx=missing[0][:200]))
    tx_flags = np.zeros(len(txs), dtype=np.bool_)
    tx_flags[[position[h] for h in wanted]] = True
    out_flags = np.zeros(np.asarray(txs.out_value).shape[0], dtype=np.bool_)
    addresses = list(seed_addresses)
    ids = locate_addresses(txs.addresses, [s.address for s in addresses])
    counts = np.asarray(txs.out_start, dtype=np.int64)
    out_tx = np.repeat(np.arange(len(txs)), counts[1:] - counts[:-1])
    for seed in addresses:
        ident = ids.get(address_key(seed.address), [None])[0]
        if ident is None:
            raise BadInput(f"seed address {seed.address} does not appear in the transactions "
                           "read", seed=seed.address,
                           says=msg("error.trace.seed_address_not_in_transactions",
                                    address=seed.address[:200]))
        if seed.amount is not None:
            raise BadInput("--seed-address ...=AMOUNT is for account transfers; a UTXO seed "
                           "taints whole outputs", says=msg("error.trace.utxo_seed_amount"))
        hit = np.asarray(txs.out_address) == ident
        if seed.block is not None:
            hit &= np.asarray(txs.block)[out_tx] >= seed.block
        out_flags |= hit
    if not wanted and not addresses:
        raise BadInput("a trace needs at least one seed (--seed-tx or --seed-address)",
                       says=msg("error.trace.needs_seed"))
    known, stops = _stops(txs.addresses, labels, stop_categories)
    trace_utxo = kernels.trace_utxo  # its first use loads it: before the clock
    started = time.perf_counter()
    try:
        u = trace_utxo(txs, UtxoSeeds(tx_flags, out_flags), policy, stops=stops,
                       max_hops=max_hops)
    except ValueError as exc:
        raise BadInput(f"the transactions cannot be traced: {exc}",
                       says=msg("error.trace.transactions_untraceable",
                                reason=str(exc)[:200])) from None
    seconds = {"kernel": time.perf_counter() - started}
    edges = _utxo_edges(txs, out_tx)
    received = np.asarray(u.received, dtype=object)
    sent = received - np.asarray(u.held, dtype=object) - np.asarray(u.absorbed, dtype=object)
    first = np.full(received.shape[0], -1, dtype=np.int64)  # → the first edge of that tx
    starts = np.asarray(txs.out_start)
    for a, pos in enumerate(u.first_tainted):
        if pos >= 0:
            first[a] = int(starts[pos]) if int(starts[pos]) < len(edges) else -1
    result = AccountResult(policy, u.received, sent, u.held, u.absorbed, first, u.hops,
                           u.output_taint, u.burned, u.seeded)
    described = {"transactions": wanted,
                 "addresses": [{"address": s.address, "block": s.block} for s in addresses],
                 "model": "utxo"}
    return TraceReport(policy, edges, result, described, stops, known,
                       _exposure(result, known), seconds)


def _utxo_edges(txs: UtxoTransactions, out_tx: np.ndarray) -> AccountTransfers:
    """One edge per output: from its transaction's largest input's address (the output's own
    address for a transaction with no inputs in the data) to the output's address."""
    in_start = np.asarray(txs.in_start)
    payer = np.empty(len(txs), dtype=np.int64)
    for i in range(len(txs)):
        lo, hi = int(in_start[i]), int(in_start[i + 1])
        if hi > lo:
            values = [int(v) for v in txs.in_value[lo:hi]]
            payer[i] = int(txs.in_address[lo + values.index(max(values))])
        else:
            payer[i] = -1
    dst = np.asarray(txs.out_address, dtype=np.int64)
    src = payer[out_tx]
    src = np.where(src < 0, dst, src)
    vout = np.arange(dst.shape[0]) - np.asarray(txs.out_start)[out_tx]
    block = np.asarray(txs.block, dtype=np.int64)[out_tx]
    tx_index = out_tx - np.searchsorted(np.asarray(txs.block), block)
    value = txs.out_value
    return AccountTransfers(src=src, dst=dst, value=value, fee=np.zeros_like(value),
                            block=block, tx_index=np.asarray(tx_index, dtype=np.int64),
                            log_index=np.asarray(vout, dtype=np.int64),
                            tx_hash=np.asarray(txs.txid, dtype=object)[out_tx],
                            addresses=np.asarray(txs.addresses, dtype=object))


def _exposure(result: AccountResult, labels: Mapping[int, Label]) -> list[Exposure]:
    sums: dict[tuple[str, str], list[int]] = {}
    for ident, label in labels.items():
        taint = int(result.received[ident])
        if taint <= 0:
            continue
        key = (label.actor or label.label, label.category)
        slot = sums.setdefault(key, [0, 0])
        slot[0] += taint
        slot[1] += 1
    return sorted((Exposure(entity, category, taint, count)
                   for (entity, category), (taint, count) in sums.items()),
                  key=lambda e: (-e.taint, e.entity))
