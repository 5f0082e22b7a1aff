"""Trace benchmarks: the command end to end against the Parquet scan floor of the same file
(DuckDB and Spark engines), the taint kernels' transfers per second, the UTXO kernel's inputs
and outputs per second, and the memory-scan floors, all in the same run.

Per size n (1M, 10M, 50M transfers; ``--quick``: 1M), ``run.py`` runs two processes:

- ``synth``: ``write_synth_parquet(path, n, n // 10, seed=7)`` streams the heavy-tailed
  synthetic chain (senders and receivers Zipf-like, k^-1.1 over n/10 addresses; lognormal
  values and fees) into a temporary folder; not timed, deleted after the size's run.
- ``bench``: in a fresh process, after compiling the kernels on a tiny chain:

  1. **End to end**: ``kinko trace run`` (haircut, the chain's first two transactions as
     seeds, tables as Parquet) in a fresh process per engine (DuckDB, then Spark in local
     mode), its own peak RSS and that of the processes it starts (Spark's JVM), their
     ``VmHWM`` sampled (not ``ru_maxrss``: Linux carries the benchmark process's own
     high-water mark over fork and exec into it), the stages of its ``timings.json``; the
     Parquet scan floor (pyarrow reading every column the trace reads into memory) is
     timed before and after each.
  2. **Kernels**, each policy on the loaded chain: ``trace_account`` (its input checks
     included) with the realistic seeding, best of two runs; then the stress seeding, once.
  3. **Floors**: the memory-scan floor, a numpy sum over the four columns a kernel reads;
     a balances-only vectorised pass (``np.bincount``); the Parquet scan of from, to
     (dictionary-encoded), value and fee.
  4. **UTXO** (at the smallest size only): ``trace_utxo`` per policy on ``synth_utxo``'s
     chain of 2M transactions.

Seedings: *realistic*, the first 10 transfers of the chain are stolen (their whole value
taints their receivers); *stress*, the busiest sender is a seed address holding taint as a
source from the first transfer on.

The kernels are single-threaded numba loops (one core); DuckDB, pyarrow and Spark use both
cores of the machine.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

SEED = 7
ADDRESS_DIVISOR = 10  # n transfers over n // 10 addresses
SEED_TRANSFERS = 10
AccountPolicy = Literal["poison", "haircut", "fifo", "lifo"]
POLICIES: tuple[AccountPolicy, ...] = ("poison", "haircut", "fifo", "lifo")
E2E_POLICY: AccountPolicy = "haircut"
SEED_TX = 2  # the command's seeds: the chain's first two transactions
SPARK_MAX = int(os.environ.get("KINKO_BENCH_SPARK_MAX", "50000000"))
"""The Spark engine runs at every size up to this: every size by default (at 50M about 11
minutes on a quiet 2-core machine, its JVM 8 GB); ``KINKO_BENCH_SPARK_MAX=10000000`` leaves
the 50M chain to the DuckDB engine alone, for a shorter run."""
UTXO_TX = 2_000_000  # transactions of the synthetic UTXO chain
HEADING = "## Trace"


def sizes(quick: bool) -> list[int]:
    return [1_000_000] if quick else [1_000_000, 10_000_000, 50_000_000]


def bench_synth(path: str, n: int) -> dict[str, float]:
    from kinko.chains.tracefiles import write_synth_parquet

    t = time.perf_counter()
    written = write_synth_parquet(Path(path), n, max(2, n // ADDRESS_DIVISOR), SEED)
    secs = time.perf_counter() - t
    return {"transfers": written, "synth_seconds": secs,
            "parquet_mb": Path(path).stat().st_size / 2**20}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm_up() -> None:
    """Compile (or load from numba's cache) every kernel on a tiny chain."""
    from kinko.domain.trace import AccountSeeds, AccountTransfers, trace_account

    ints = np.array([0, 1, 2], dtype=np.int64)
    tiny = AccountTransfers(
        src=ints, dst=np.array([1, 2, 0], dtype=np.int64),
        value=np.array([5, 3, 1], dtype=np.int64), fee=np.array([1, 0, 0], dtype=np.int64),
        block=ints, tx_index=np.zeros(3, np.int64), log_index=np.zeros(3, np.int64),
        tx_hash=np.array(["a", "b", "c"], dtype=object),
        addresses=np.array(["x", "y", "z"], dtype=object))
    seeds = AccountSeeds(transfers=np.array([True, False, False]), addresses=((2, 1, None),))
    for policy in POLICIES:
        trace_account(tiny, seeds, policy, compiled=True)


def _best(fn: Any, reps: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


_SCAN = """
import sys, time
import pyarrow.parquet as pq
t = time.perf_counter()
table = pq.read_table(sys.argv[1], columns=["tx_hash", "block", "tx_index", "log_index",
                                            "from", "to", "value", "fee"])
print(time.perf_counter() - t)
"""


def _full_scan(path: str) -> float:
    """The Parquet scan floor: pyarrow reading every column the trace reads into memory
    (hashes and addresses as strings), as fast as this file can be read; timed in a
    process of its own, whose memory (about 10 GB at 50M, which Arrow's allocator would
    keep) is gone before the commands that follow start."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _SCAN, path], capture_output=True,
                          text=True, check=True)
    return float(done.stdout.strip())


def _first_hashes(path: str, k: int) -> list[str]:
    import pyarrow.parquet as pq

    first = pq.ParquetFile(path).read_row_group(0, columns=["tx_hash"]).column(0)
    return [str(h) for h in first[:k].to_pylist()]


def _command(path: str, seeds: list[str], engine: str) -> dict[str, Any]:
    """``kinko trace run`` (haircut, the seed transactions, tables as Parquet) in a fresh
    process: seconds, its peak RSS, where the time went (timings.json) and what it found."""
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kinko-trace-out-") as out:
        args = [sys.executable, "-c", "import sys; from kinko.cli import main; "
                "sys.exit(main())", "trace", "run", "--transfers", path,
                "--format", "parquet", "--policy", E2E_POLICY, "--engine", engine,
                "--out", out]
        for h in seeds:
            args += ["--seed-tx", h]
        env = {**os.environ, "KINKO_DATABASE_URL": f"sqlite:///{out}/none.db"}
        errors = Path(out) / "stderr.txt"
        peaks: dict[int, int] = {}
        done = threading.Event()
        with errors.open("w+") as err:
            t = time.perf_counter()
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env)
            watch = threading.Thread(target=_watch, args=(proc.pid, done, peaks))
            watch.start()
            _pid, status, usage = os.wait4(proc.pid, 0)
            secs = time.perf_counter() - t
            proc.returncode = os.waitstatus_to_exitcode(status)
            done.set()
            watch.join()
        if proc.returncode != 0:
            raise RuntimeError(f"kinko trace run ({engine}) failed: "
                               f"{errors.read_text()[-2000:]}")
        errors.unlink()
        # the command's own peak, sampled: its ru_maxrss (RUSAGE_CHILDREN, or os.wait4's)
        # starts from this process's high-water mark, which Linux carries over fork and exec
        # (the scan floor's table, read here just before, would show as the command's)
        own = peaks.pop(proc.pid, 0)
        rss = (own or usage.ru_maxrss) / 1024
        summary = json.loads((Path(out) / "summary.json").read_text())
        timings = json.loads((Path(out) / "timings.json").read_text())
        sizes_mb = {p.name: p.stat().st_size / 2**20 for p in Path(out).iterdir()}
    return {"seconds": secs, "peak_rss_mb": rss,
            "children_peak_mb": max(peaks.values(), default=0) / 1024,
            "stages": timings["seconds"],
            "tainted_transfers": summary["counts"]["tainted_transfers"],
            "tainted_addresses": summary["counts"]["tainted_addresses"],
            "traced": summary["seeds"]["transfers_traced"],
            "conserved": summary["conservation"]["holds"], "files_mb": sizes_mb}


def _watch(pid: int, done: threading.Event, peaks: dict[int, int]) -> None:
    """The peak RSS (``VmHWM``, kB: the process's own high-water mark since it started its
    program) of process ``pid`` while it runs, every 20 ms, and of each process below it
    every half second (Spark's JVM, which the command starts and does not wait for)."""
    tick = 0
    while not done.wait(0.02):
        below = {pid} if tick % 25 else _below(pid)
        tick += 1
        for p in below:
            try:
                status = Path(f"/proc/{p}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[p] = max(peaks.get(p, 0), int(line.split()[1]))


def _below(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    below, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in below} - below
        below |= more
        grew = bool(more)
    return below


def bench_utxo(n_tx: int = UTXO_TX) -> dict[str, Any]:
    """The compiled UTXO kernel, each policy, on a synthetic chain (the first 10
    transactions stolen): inputs + outputs per second, input checks included, best of two."""
    from kinko.chains.tracefiles import synth_utxo
    from kinko.domain.trace.model import UtxoSeeds
    from kinko.domain.trace.utxo import trace_utxo

    txs = synth_utxo(n_tx, max(2, n_tx // 10), SEED)
    n_out = len(txs.out_value)
    io = len(txs.in_output) + n_out
    seeds = UtxoSeeds(np.arange(len(txs)) < SEED_TRANSFERS, np.zeros(n_out, dtype=np.bool_))
    rows = []
    for policy in ("poison", "haircut", "fifo", "lifo", "tiho"):
        trace_utxo(txs, seeds, policy)  # compiled (or loaded from numba's cache)
        secs, r = _best(lambda p=policy: trace_utxo(txs, seeds, p), 2)
        rows.append({"policy": policy, "seconds": secs, "per_s": io / secs,
                     "tainted_outputs": int(np.count_nonzero(r.output_taint)),
                     "conserved": policy == "poison" or r.seeded == int(r.held.sum())
                     + r.burned + int(r.absorbed.sum())})
    return {"transactions": len(txs), "inputs_outputs": io, "policies": rows}


def _parquet_scan(path: str) -> tuple[float, int]:
    import pyarrow.parquet as pq

    t = time.perf_counter()
    f = pq.ParquetFile(path, read_dictionary=["from", "to"])
    total = rows = 0
    for group in range(f.num_row_groups):
        table = f.read_row_group(group, columns=["from", "to", "value", "fee"])
        for name in ("from", "to"):
            for chunk in table[name].chunks:
                total += int(chunk.indices.to_numpy().sum(dtype=np.int64))
        for name in ("value", "fee"):
            total += int(table[name].to_numpy().sum())
        rows += table.num_rows
    return time.perf_counter() - t, rows


def bench(path: str, n: int) -> dict[str, Any]:
    """Everything measured on one chain; see the module docstring."""
    from kinko.chains.tracefiles import load_account
    from kinko.domain.trace import AccountSeeds, trace_account

    load_before = os.getloadavg()[0]
    _warm_up()

    # 1. end to end: the command, as an operator runs it (fresh processes), each engine,
    # bracketed by the Parquet scan floor of the same file
    out: dict[str, Any] = {"scan_before_s": _full_scan(path)}
    seeds = _first_hashes(path, SEED_TX)
    out["command"] = _command(path, seeds, "duckdb")
    out["scan_after_s"] = _full_scan(path)
    if n <= SPARK_MAX:
        out["spark"] = _command(path, seeds, "spark")
        out["scan_spark_s"] = _full_scan(path)
    transfers = load_account(Path(path), "parquet", with_hashes=False)
    m = len(transfers)
    mask = np.zeros(m, dtype=np.bool_)
    mask[:SEED_TRANSFERS] = True
    seeds_ = AccountSeeds(transfers=mask)
    n_addr = len(transfers.addresses)
    out.update({"transfers": m, "addresses": n_addr})

    # 2. kernels
    hub = int(np.bincount(transfers.src, minlength=n_addr).argmax())
    stress = AccountSeeds(transfers=np.zeros(m, dtype=np.bool_), addresses=((hub, 0, None),))
    kernels: list[dict[str, Any]] = []
    for seeding, s, reps in (("realistic", seeds_, 2), ("stress", stress, 1)):
        for policy in POLICIES:
            secs, r = _best(lambda s=s, policy=policy: trace_account(transfers, s, policy),
                            reps)
            row = {"seeding": seeding, "policy": policy, "seconds": secs, "per_s": m / secs,
                   "reached": int(np.count_nonzero(r.first_tainted >= 0)),
                   "holding": int(np.count_nonzero(r.held)),
                   "carrying": int(np.count_nonzero(r.flow))}
            if policy != "poison":
                row["conserved"] = r.seeded == int(r.held.sum()) + r.burned + int(
                    r.absorbed.sum())
            kernels.append(row)
            del r
    out["kernels"] = kernels
    out["stress_hub_share"] = float(np.count_nonzero(transfers.src == hub) / m)

    # 3. floors
    src, dst, value, fee = transfers.src, transfers.dst, transfers.value, transfers.fee
    out["scan_s"], _ = _best(lambda: int(src.sum()) + int(dst.sum()) + int(value.sum())
                             + int(fee.sum()), 3)
    out["scatter_s"], _ = _best(
        lambda: (np.bincount(src, weights=value, minlength=n_addr)
                 - np.bincount(dst, weights=value, minlength=n_addr)).sum(), 3)
    out["scan_bytes"] = int(src.nbytes + dst.nbytes + value.nbytes + fee.nbytes)
    out["parquet_scan_s"], rows = _parquet_scan(path)
    assert rows == m, (rows, m)
    out["load_avg"] = [load_before, os.getloadavg()[0]]
    if n == min(sizes(False)):
        out["utxo"] = bench_utxo()
    return out


NOTES = """Where the command's time went (10M, haircut, two seed transactions; profiled with
cProfile, and with the process's CPU time per stage, on this shared machine, so the shares
matter more than the seconds). Before the change before last: start-up 1-2 s (the CLI
imported the database layer, SQLAlchemy, for every command), loading 5.3 of 11 s (the
addresses numbered from the Parquet file's dictionaries 2.7 s, all of them held at once;
three DuckDB queries over the file 1.2 s, each kept whole as an Arrow table and copied to
numpy, 0.6 s; the order and uniqueness checks 0.6 s), the seeds 1.0 s (every hash read from
the file and normalised to find two), the reduction and kernel 1 s, the outputs 2.4 s (the
picture 1.5 s, the flows' hashes 0.8 s). The 11 GB peak reported at 50M was this
benchmark's own (its scan floor's table, carried by Linux into the command's `ru_maxrss`):
sampled, the command's peak was 6.3 GB. Then: one streamed DuckDB pass checks every row and
fills preallocated numpy arrays with the order columns, the amounts and a 64-bit key of each
hash (DuckDB no longer reads the sender and receiver columns); on the same pass it picks out
the rows that may hold a seed hash (a substring test on the digits of the hash, confirmed on
the few candidates), so the seeds cost nothing more; meanwhile a thread numbers the
addresses from the file's dictionaries (a few row groups at a time, each row's id one
look-up) and checks them for empty ones; the flows' hashes are read (row groups in
parallel, only the rows taken normalised) while the addresses table and the graph are
written; the reduction counts what it would keep before listing it; the database layer
loads only for tags or an incident. CPU time at 10M, that run: start-up 0.7 s, loading 7.4 s
(the DuckDB pass and the address thread together 5.6 s, the uniqueness check's sort of the
transaction keys 1.3 s), reduction and kernel 0.8 s, outputs 1.9 s (the picture 1.7 s, with
matplotlib's import).

At 50M (profiled with per-stage CPU timers and `perf`, load average 4-6 on the 2 cores, so
CPU time rather than seconds): the command took 57.6 s of CPU (user 37.7, system 19.8) and
a 5.9 GB peak before the last change. A quarter of all samples were the kernel zeroing
fresh pages: on this virtual machine the first touch of memory costs about 2 s a GB
(touched again, 0.07 s), so every chain-sized array made is paid twice. The loading's
critical path is the address thread (21 s of its own CPU: Arrow hashing 17.7M dictionary
entries, 177k distinct addresses per column per row group, with the addresses known so far
hashed again at each round), not the DuckDB pass (8 s on the main thread, copying the
batches into the arrays, besides DuckDB's own threads); the uniqueness check's sort of 50M
keys took 5.7 s with its chain-sized temporaries (the transaction starts, their keys, the
sorted copy, 1.2 GB); the flows' hashes 5.6 s (every row group's hash column is decoded to
take the 314k tainted rows); the picture 1.5 s. Now: the uniqueness check is compiled: one
pass finds neighbours at one position and one transaction with two keys and counts the
transactions, and a radix partition of their keys by the top bits, each small part sorted,
finds a key at two places (one buffer of the keys; 3.2 s); the dictionaries are unified
with the known addresses (Arrow's dictionary unifier, no concatenated copy), twice as many
at a time (16 s); matplotlib and the picture's font load in a thread while the kernel runs,
the kernels releasing the interpreter (the picture 1.1 s). Measured in the same minutes,
before and after: 57.6 → 49.9 s of CPU (system 19.8 → 14.6 s), peak 5.9 → 5.3 GB, the
outputs byte for byte the same. What stands in the way of 3× at 50M: the address numbering,
single-threaded and memory-latency bound (about 350 ns a dictionary entry here) and the
longest path of the loading (it ends about 12 s after the DuckDB pass, under load); the
memory first touched (the row pass's eight columns alone are 2.85 GB); decoding the whole
hash column for the flows. Numbering the senders and receivers in two threads was tried and
left out: 5.7 s more CPU and 0.7 GB more memory (each column's own known addresses, sorted
together at the end), for a gain only when a core is idle.

Then (measured at 50M, two runs each way interleaved in the same minutes, load average 5-11):
the row pass no longer stores the row numbers when they are 0, 1, 2, ... (a file read whole
and in order: each batch's numbers are checked as they pass, and written only from the first
that is not the next), and a reduction that keeps the whole chain hands it on with no
positions at all (no 0..n-1 of 400 MB, no gather of the seed flags nor of the hash lookups
through it). Before and after: peak 5.3-5.4 → 4.9-5.2 GB; user+system 55.9 and 53.8 s
before, 55.7 and 57.6 s after (system 20.0 and 18.5 → 18.1 and 19.0 s): at this load the
CPU expected to be saved (a few hundred MB less memory first touched, 1-2 s) is inside the
run-to-run noise: these runs show no saving; the stage timers (wall clock) varied by 2× between
runs of the same code. The outputs are byte for byte the same. Still in the way: decoding
the whole hash column of every row group to take the flows' few hundred thousand rows (about
4.6 s of CPU; reading only the row groups or rows needed is the next cut), and the address
numbering's critical path.

The Spark engine (10M, profiled with Spark's event log: each job's stages and their tasks'
CPU time; the machine was shared with other benchmarks at a load average of 6-43 on its 2
cores, so the wall-clock seconds of these runs are not comparable and the CPU time is).
Before: 335 s of CPU in Spark's tasks, 149 s of it reading and checking (the rows cached
twice, once to number them and once numbered; the order and uniqueness checks three jobs,
each joining every row with the next by a shuffle of all its columns, hashes included), 93 s
numbering the addresses (two sort-merge joins that shuffled every transfer, hashes and
amounts as text, by sender and then by receiver) and 92 s reducing and collecting (twelve
rounds; the kept transfers sorted by position on the cluster before they came back). Now:
a file read whole keeps its record numbers as positions, so the rows are read, checked for
wrong values and cached in one pass (the problems are named from the file only when some row
is wrong); the three order checks are one job over one pairing of each row with the one
before; the address table, up to 5 million addresses, goes to every task and the transfers
are numbered where they are (no shuffle); the numbered transfers replace the rows read in
the cache, their amounts as int64 only (as text only when some do not fit); the kept
transfers come back unordered and are put in file order on the driver. Same run, same file:
335 → 258 s of CPU in tasks (reading and checking 149 → 121 s, numbering 93 → 54 s,
reducing 92 → 81 s); the reduced arrays byte for byte the same. What is left: the first
read and cache (about 60 s of CPU), the reduction's twelve rounds (a join, a group-by and
two checkpoints each, about 4 s of CPU a round) and the listing of the kept transfers (a
union of three semi-joins and a distinct, about 20 s), for a reach that is nearly the
whole chain here. At 50M (the same run, load average 2-16) the rows read, cached as read
(hashes, addresses and amounts as text, about 300 bytes a row), outgrew the 8 GB driver and
14 GB spilled to local disk; the trace then failed after 16 minutes at its last step,
Spark's own 1 GB cap on what a job may return refusing the 50M kept transfers: the driver
may now take back as much as its memory. Since then only the numbered transfers are cached
(integers: no hashes or addresses as text, which are read again from the file where a job
needs them), each reduction round sends its frontier to every task instead of shuffling
the transfers, and the kept transfers are found in one pass: Spark at 50M completes here
(one run at a load average of 5-49: 1,622 s, 935 s of CPU in Spark's tasks, of which the
pass that numbers, checks and caches the transfers 321 s, the order checks 250 s, the
address listing 162 s, each reduction round 16-20 s; outputs byte for byte DuckDB's); at
10M on a quiet machine, back to back with the code before: 187.7 → 149.6 s, 347.8 → 276.0 s
of CPU in the command's processes, the reduction 72.3 → 43.7 s).
"""


def _ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


def section(results: list[dict[str, Any]], quick: bool, measured: str) -> list[str]:
    """The "Trace" section of RESULTS.md (with its own date and machine: ``--only trace``
    replaces it alone). ``results``: per size, the synth figures merged with :func:`bench`'s."""
    lines = [
        HEADING,
        "",
        f"{measured}{' (--quick)' if quick else ''}. Chains from "
        f"`write_synth_parquet(path, n, n // {ADDRESS_DIVISOR}, seed={SEED})` (Zipf-like "
        "senders and receivers, weight k^-1.1 over n/10 addresses, so a few hubs carry much of "
        "the traffic; lognormal values and fees; int64 amounts, so the compiled kernels run), "
        "written to a temporary folder before each size's run (not timed) and deleted after. "
        "Each size runs in its own process, the kernels compiled on a tiny chain first. "
        f"Seeding: *realistic* = the first {SEED_TRANSFERS} transfers of the chain are stolen; "
        "*stress* = the busiest sender is a source seed address from the first transfer on "
        "(its whole balance and all it receives is taint). Kernel times are `trace_account` "
        "(input checks included) on the whole loaded chain, single-threaded numba, best of two "
        "(stress: one run). The busiest sender sends "
        + " / ".join(f"{r['stress_hub_share']:.1%}" for r in results)
        + " of the transfers. Memory-scan floor: a numpy sum over the four columns a kernel reads "
        "(src, dst, value, fee as int64, in memory); balances-only pass: `np.bincount` of src "
        "and dst weighted by value (the same columns, scattered per address as a kernel does, "
        "no taint logic).",
        "",
        "| chain | addresses | policy | seeding | seconds | transfers/s | × memory-scan time | "
        "addresses reached | holding taint at end | transfers carrying taint |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for k in r["kernels"]:
            lines.append(
                f"| {r['transfers'] / 1e6:,.0f}M | {r['addresses']:,} | {k['policy']} | "
                f"{k['seeding']} | {k['seconds']:.3f} | {k['per_s']:,.0f} | "
                f"{k['seconds'] / r['scan_s']:,.0f} | {k['reached']:,} | {k['holding']:,} | "
                f"{k['carrying']:,} |")
    lines += [
        "",
        "| chain | memory scan s | scan transfers/s (GB/s) | balances-only pass s "
        "(transfers/s) | Parquet scan s (transfers/s) | Parquet MB | generation s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        m = r["transfers"]
        lines.append(
            f"| {m / 1e6:,.0f}M | {r['scan_s']:.3f} | {m / r['scan_s']:,.0f} "
            f"({r['scan_bytes'] / r['scan_s'] / 1e9:.1f}) | {r['scatter_s']:.3f} "
            f"({m / r['scatter_s']:,.0f}) | {r['parquet_scan_s']:.2f} "
            f"({m / r['parquet_scan_s']:,.0f}) | {r['parquet_mb']:,.0f} | "
            f"{r['synth_seconds']:.1f} |")
    lines += [
        "",
        f"End to end: `kinko trace run --format parquet --policy {E2E_POLICY} --seed-tx H1 "
        "--seed-tx H2` (the chain's first two transactions) in a fresh process, outputs "
        "included (tables as Parquet), per engine; the baseline is the Parquet scan floor of "
        "the same file in the same run: pyarrow reading every column the trace reads (hashes "
        "and addresses as strings) into memory in a process of its own, timed before and after "
        "the DuckDB command (and after the Spark one); the ratio is to their mean. Spark runs "
        "in local mode (`local[2]`, this machine's 2 cores), the JVM's start included. Peak "
        "RSS is each command's own high-water mark (`VmHWM`, sampled every 20 ms), and for "
        "Spark in brackets the largest of the processes it started (the JVM). The last column is "
        "the machine's 1-minute load average at the start and end of the size's process (2 "
        "cores; other work on the machine shows as a load above 1-2).",
        "",
        "| chain | engine | seconds | × Parquet scan (s) | peak RSS MB | transfers traced | "
        "tainted transfers | stages (s) | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        m = r["transfers"]
        scan = (r["scan_before_s"] + r["scan_after_s"]) / 2
        for engine, c, base in (("duckdb", r["command"], scan),
                                ("spark", r.get("spark"), r.get("scan_spark_s"))):
            if c is None:
                continue
            stages = ", ".join(f"{k} {v:.1f}" for k, v in c["stages"].items())
            lines.append(
                f"| {m / 1e6:,.0f}M | {engine} | {c['seconds']:.1f} | "
                f"{c['seconds'] / base:.1f} ({base:.1f}) | {c['peak_rss_mb']:,.0f}"
                + (f" (+ {c['children_peak_mb']:,.0f})" if engine == "spark" else "")
                + " | "
                f"{c['traced']:,} | {c['tainted_transfers']:,} | {stages} | "
                f"{r['load_avg'][0]:.1f} → {r['load_avg'][1]:.1f} |")
    three = [(r, r["command"]["seconds"] / ((r["scan_before_s"] + r["scan_after_s"]) / 2))
             for r in results if r["transfers"] >= 10_000_000]
    utxo = next((r["utxo"] for r in results if "utxo" in r), None)
    if utxo is not None:
        lines += [
            "",
            f"UTXO kernel (compiled), synthetic chain of {utxo['transactions']:,} transactions "
            f"({utxo['inputs_outputs']:,} inputs + outputs; `synth_utxo`, the first "
            f"{SEED_TRANSFERS} transactions stolen), `trace_utxo` with its input checks, best "
            "of two:",
            "",
            "| policy | seconds | inputs+outputs/s | tainted outputs | conservation |",
            "|---|---:|---:|---:|---|",
        ]
        for u in utxo["policies"]:
            kept = "n/a" if u["policy"] == "poison" else "exact" if u["conserved"] else "BROKEN"
            lines.append(f"| {u['policy']} | {u['seconds']:.3f} | {u['per_s']:,.0f} | "
                         f"{u['tainted_outputs']:,} | {kept} |")
    lines += [
        "",
        "Targets: the command ≤ 3× the Parquet scan floor at 10M and 50M — "
        + ("; ".join(f"{r['transfers'] / 1e6:,.0f}M {_ok(x <= 3)} ({x:.1f}×)" for r, x in three)
           or "not measured (no chain of 10M or more)")
        + (f"; UTXO kernel ≥ 5M inputs+outputs/s — "
           f"{_ok(min(u['per_s'] for u in utxo['policies']) >= 5e6)} (slowest "
           f"{min(u['per_s'] for u in utxo['policies']) / 1e6:.1f}M/s)"
           if utxo is not None else "") + ".",
    ]
    realistic = [(r, k) for r in results for k in r["kernels"]
                 if k["seeding"] == "realistic" and k["policy"] in ("poison", "haircut")]
    slowest = min(realistic, key=lambda rk: rk[1]["per_s"])
    kernel_ok = all(k["per_s"] >= 10_000_000 for _, k in realistic)
    biggest = max(results, key=lambda r: r["transfers"])
    big_n = biggest["transfers"]
    lines += [
        "",
        "Targets: poison and haircut kernels ≥ 10M transfers/s on one core — "
        f"{_ok(kernel_ok)} (slowest: {slowest[1]['policy']} on "
        f"{slowest[0]['transfers'] / 1e6:,.0f}M, {slowest[1]['per_s'] / 1e6:.1f}M/s, "
        "realistic seeding); 50M transfers end to end in under 60 s within 8 GB — "
        + (f"time {_ok(biggest['command']['seconds'] < 60)} "
           f"({biggest['command']['seconds']:.1f} s), memory "
           f"{_ok(biggest['command']['peak_rss_mb'] < 8192)} "
           f"({biggest['command']['peak_rss_mb']:,.0f} MB)" if big_n >= 50_000_000 else
           f"not measured (largest chain {big_n / 1e6:,.0f}M)") + ".",
        "",
        "Conservation (seeded = held + burned + absorbed, exact integers) held in every "
        "haircut, FIFO and LIFO kernel run above: "
        + ("yes" if all(k.get("conserved", True) for r in results for k in r["kernels"])
           else "NO") + ".",
        "",
        "Anchor (context only, not comparable): BlockSci traverses all Bitcoin "
        "inputs and outputs in about a second on 16 vCPUs; that is a raw scan with no taint "
        "state, like the memory-scan floor above, on 8× the cores.",
        "",
        NOTES,
    ]
    return lines
