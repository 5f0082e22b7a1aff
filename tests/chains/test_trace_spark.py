"""The Spark engine against the DuckDB engine: the same files, byte for byte, on the
literature's case, the two real MFTracer thefts with clean traffic around them (with a
labelled exchange and a seed address), a synthetic Parquet chain, and the same problems named
on bad files. Spark runs in local mode (``local[2]`` bound to 127.0.0.1), one session for the
whole test session on one worker; a JVM starts in seconds, so these tests are few and slow."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kinko.chains import tracefiles
from kinko.chains.tracefiles import load_account
from kinko.cli.trace import _reduce
from kinko.domain.labels import tag_index
from kinko.domain.screening import Label
from kinko.errors import InputFileError
from kinko.render.trace import write_trace
from kinko.services.trace import SeedAddress, run_trace, run_trace_on

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = ("addresses.parquet", "flows.parquet", "exposure.csv", "summary.json", "graph.json",
         "graph.html")


@pytest.fixture(scope="session")
def spark() -> Any:
    from kinko.chains.tracefiles.spark import spark_session

    # the JVM's quick compiler only: a test session runs a few hundred small queries on tiny
    # files, and the optimising compiler's work (half the JVM's CPU here, on two cores
    # shared with the other tests) never pays back; the plans and the code Spark generates
    # are the same (a cluster's long jobs keep both compilers). And the serial collector:
    # its young collections of these small heaps take one thread, not one per core
    # (measured, the file alone: 187 and 177 → 157 and 163 s of CPU)
    with pytest.MonkeyPatch.context() as mp:  # the variable as it was once the JVM runs
        mp.setenv("PYSPARK_SUBMIT_ARGS", "--driver-java-options "
                  "'-XX:TieredStopAtLevel=1 -XX:+UseSerialGC' pyspark-shell")
        return spark_session("local[2]")


READ: dict[Path, Any] = {}  # a file read once by each engine, traced several times


class ReducedOnce:
    """A Spark source whose reduction runs once for each seeds and stops. A reduction
    depends on no policy (the reduced graph is every policy's input), so a file's second
    policy traces from the first one's reduction, computed on Spark and compared there;
    every other read of the source (transactions found, hashes, names) still runs on Spark
    for each trace."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.done: dict[tuple[bytes, tuple[tuple[int, int], ...], bytes], Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def reduce(self, seed_positions: Any, seed_addresses: list[tuple[int, int]],
               stop_ids: Any) -> Any:
        key = (np.asarray(seed_positions, np.int64).tobytes(),
               tuple((int(a), int(p)) for a, p in seed_addresses),
               np.asarray(stop_ids, np.int64).tobytes())
        if key not in self.done:
            self.done[key] = self.source.reduce(seed_positions, seed_addresses, stop_ids)
        return self.done[key]


def both(spark: Any, tmp_path: Path, path: Path, fmt: str, name: str,
         asset: str | None = None, **kw: Any) -> None:
    """Trace ``path`` (its transfers of ``asset``) with each engine and compare every file
    they write."""
    from kinko.chains.tracefiles.spark import SparkTransfers

    if path not in READ:
        READ[path] = (tracefiles.load_account_lazy(path, fmt, asset=asset),
                      ReducedOnce(SparkTransfers(path, fmt, asset=asset, master="local[2]")))
    (data, store), source = READ[path]
    local = run_trace(data, reduce=_reduce, find_txs=store.positions, hashes_of=store.at_arrow,
                      **kw)
    write_trace(local, tmp_path / f"{name}-duckdb", tables="parquet")
    remote = run_trace_on(source, **kw)
    write_trace(remote, tmp_path / f"{name}-spark", tables="parquet")
    for file in FILES:
        a = (tmp_path / f"{name}-duckdb" / file).read_bytes()
        b = (tmp_path / f"{name}-spark" / file).read_bytes()
        assert a == b, (name, file)
    assert remote.summary()["counts"]["tainted_transfers"] > 0


def anderson(tmp_path: Path) -> Path:
    path = tmp_path / "anderson.csv"
    path.write_text("tx_hash,block,tx_index,log_index,from,to,value,fee\n"
                    "0x01,1,0,0,thief,x,30,0\n0x02,2,0,0,miner,x,70,0\n"
                    "0x03,3,0,0,x,A,30,1\n0x04,4,0,0,x,B,69,0\n")
    return path


def test_the_literature_case_under_every_policy(spark: Any, tmp_path: Path) -> None:
    path = anderson(tmp_path)
    for policy in ("haircut", "lifo"):
        both(spark, tmp_path, path, "csv", policy, policy=policy, seed_txs=["0x01"])


def mftracer_csv(tmp_path: Path, case: str) -> tuple[Path, list[str], str]:
    """The verified illicit flows plus clean traffic around them (as the CLI test builds),
    as a generic CSV; the seed transactions and one terminal."""
    folder = DATA / "mftracer" / case
    illicit = load_account(folder / "transfers.csv", "mftracer")
    names = [str(a) for a in illicit.addresses]
    sources = {line.strip().lower() for line in (folder / "sources.csv").read_text().split()
               if line.strip()}
    terminals = sorted(line.strip().lower() for line in
                       (folder / "terminals.csv").read_text().split() if line.strip())
    rng = random.Random(7)
    lines = [(int(illicit.block[i]), int(illicit.tx_index[i]), int(illicit.log_index[i]),
              str(illicit.tx_hash[i]), names[illicit.src[i]], names[illicit.dst[i]],
              int(illicit.value[i])) for i in range(len(illicit))]
    tainted_side = sorted({names[d] for d in illicit.dst} - sources)
    blocks = sorted({r[0] for r in lines})
    for n in range(300):
        lines.append((rng.choice(blocks), 10_000 + n, 0, f"0xbg{n:062x}",
                      f"0xc1ea{1000 + n:036x}", rng.choice(tainted_side),
                      rng.randint(100, 10**7)))
    lines.sort(key=lambda r: r[:3])
    path = tmp_path / f"{case}.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["tx_hash", "block", "tx_index", "log_index", "from", "to", "value"])
        w.writerows([r[3], r[0], r[1], r[2], r[4], r[5], r[6]] for r in lines)
    seeds = sorted({str(illicit.tx_hash[i]) for i in range(len(illicit))
                    if names[illicit.src[i]] in sources})
    return path, seeds, next(t for t in terminals if t in set(names))


@pytest.mark.parametrize("case", ["54m", "LIFI"])
def test_real_thefts(spark: Any, tmp_path: Path, case: str) -> None:
    path, seeds, terminal = mftracer_csv(tmp_path, case)
    if case == "54m":  # the victims' transfers as seeds, a terminal labelled an exchange
        labels = tag_index([Label(terminal, "Exchange T", "test", "exchange", "exchange-t")])
        for policy in ("poison", "haircut"):
            both(spark, tmp_path, path, "csv", f"{case}-{policy}", policy=policy,
                 seed_txs=seeds, labels=labels)
        return
    # the first victim payment's receiver as a seed address from its block on, a horizon
    first = load_account(path, "csv")
    at = [str(h) for h in first.tx_hash].index(seeds[0])
    both(spark, tmp_path, path, "csv", f"{case}-address", policy="fifo",
         seed_addresses=[SeedAddress(str(first.addresses[first.dst[at]]),
                                     int(first.block[at]))], max_hops=3)


def test_a_synthetic_parquet_chain_with_stops(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    tracefiles.write_synth_parquet(path, 30_000, 2_000, 3)
    full = load_account(path, "parquet")
    hubs = np.argsort(np.bincount(full.dst, minlength=len(full.addresses)))[-5:]
    labels = tag_index([Label(str(full.addresses[a]), f"Exchange {a}", "t", "exchange")
                        for a in hubs])
    both(spark, tmp_path, path, "parquet", "synth", policy="haircut",
         seed_txs=[str(full.tx_hash[5]), str(full.tx_hash[900])], labels=labels)


def test_one_asset_of_several_in_wei_beyond_int64(spark: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the rows of the other asset are dropped before the transfers are numbered, and the
    # amounts (ether in wei, some beyond int64) stay exact as their digits
    rng = random.Random(11)
    path = tmp_path / "assets.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["tx_hash", "block", "tx_index", "log_index", "from", "to", "value", "fee",
                    "asset"])
        for i in range(400):
            eth = i % 3 != 1
            w.writerow([f"0x{i + 1:064x}", 100 + i // 4, i % 4, 0, f"0x{rng.randrange(40):040x}",
                        f"0x{rng.randrange(40):040x}",
                        rng.randrange(10**17, 3 * 10**19) if eth else rng.randrange(10**6),
                        rng.randrange(10**15) if eth else 0, "ETH" if eth else "USDT"])
    both(spark, tmp_path, path, "csv", "assets", asset="ETH", policy="haircut",
         seed_txs=[f"0x{i + 1:064x}" for i in (0, 2, 3)])
    # the reachable set kept on the cluster (an address table too large to broadcast) is
    # the one kept on the driver, on seeds of both kinds and stops
    from kinko.chains.tracefiles import spark as engine

    source = READ[path][1].source
    seeds = (np.array([230, 241], np.int64), [(5, 250), (17, 236)],
             np.array([3, 9, 21], np.int64))
    here = source.reduce(*seeds)
    monkeypatch.setattr(engine, "BROADCAST_ADDRESSES", 0)
    there = source.reduce(*seeds)
    assert here.stats == there.stats and here.stats["rounds"] > 1
    assert 0 < len(here.kept) < source.read_count()
    for a, b in ((here.kept, there.kept), (here.ids, there.ids),
                 *((getattr(here.transfers, f), getattr(there.transfers, f)) for f in
                   ("src", "dst", "value", "fee", "block", "tx_index", "log_index",
                    "addresses"))):
        assert np.array_equal(a, b)


def problems(path: Path, fmt: str, engine: str) -> list[str]:
    from kinko.chains.tracefiles.spark import SparkTransfers

    with pytest.raises(InputFileError) as caught:
        if engine == "spark":
            SparkTransfers(path, fmt, master="local[2]")
        else:
            load_account(path, fmt)
    return caught.value.problems


def test_bad_files_name_the_same_problems(spark: Any, tmp_path: Path) -> None:
    header = "tx_hash,block,tx_index,log_index,from,to,value\n"
    cases = {
        "values.csv": header + "0x1,1,0,0,a,b,5\n0x2,x,0,0,,b,-3\n0x3,3,0,0,a,b,1.5\n"
                               "0x4,4,99999999999999999999,0,a,b,7\n",
        "order.csv": header + "0x1,2,0,0,a,b,5\n0x2,1,0,0,a,b,5\n0x3,1,0,0,a,b,5\n"
                              "0x3,1,0,0,a,b,5\n",
        "fields.csv": header + "0x1,1,0,0,a,b,5\n0x2,2,0,0,a,b\n\n0x3,3,0,0,a,b,5,9\n",
        "twice.csv": header + "0x1,1,0,0,a,b,5\n0x2,1,0,1,a,b,5\n0x1,2,0,0,a,b,5\n",
        "digits.csv": header + "0x1,1,0,0,a,b," + "9" * 79 + "\n0x2,2,0,0,a,b,0" + "9" * 78
                      + "\n",
        "column.csv": "tx_hash,block,tx_index,log_index,from,to,value,Value\n0x1,1,0,0,a,b,5,6\n",
        # a quote left open: on the last line (Spark's parser ended the value with the line),
        # with or without a final line break
        "open_last.csv": header + '0x1,1,0,0,a,b,5\n0x2,2,0,0,a,b,"5\n',
        "open_end.csv": header + '0x1,1,0,0,a,b,5\n0x2,2,0,0,a,b,"5',
        # and on a line in the middle, after a line of blanks (a record of one field: the
        # lines after it keep their numbers); past the first quote left open, nothing more
        # is named (a second one closes it)
        "open_twice.csv": header + '0x1,1,0,0,a,b,5\n \t\n\n0x2,2,0,0,a,b,5\n'
                                   '0x3,3,"0,0,a,b,5\n0x4,4,0,0,a,b,5\n0x5,5,"0,0,a,b,5\n',
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        found = problems(path, "csv", "duckdb")
        assert found and found == problems(path, "csv", "spark"), (name, found)
        if name == "open_twice.csv":
            assert found == [f"{path}:3: expected 7 fields, found 1",
                             f"{path}:6: unquoted value: Value with unterminated quote found."]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    from kinko.chains.tracefiles.spark import SparkTransfers

    assert SparkTransfers(empty, "csv", master="local[2]").read_count() == 0


def test_a_failing_spark_job_is_one_clear_error(spark: Any) -> None:
    """A job Spark cannot finish (here an assertion in the query; out of memory or a lost
    executor alike) is one EnvironmentProblem saying why, not a Java stack trace."""
    from kinko.chains.tracefiles.spark import spark_failures
    from kinko.errors import EnvironmentProblem

    with pytest.raises(EnvironmentProblem) as caught, spark_failures():
        spark.sql("SELECT assert_true(1 = 2, 'the kinko test job fails')").collect()
    text = str(caught.value)
    assert text.startswith("the Spark job failed") and "the kinko test job fails" in text
    assert "\tat org.apache" not in text and len(text) < 400


def test_spark_out_of_memory_says_what_to_raise() -> None:
    from kinko.chains.tracefiles.spark import _first_reason

    said = _first_reason(
        "An error occurred while calling o912.collectToPython.\n: org.apache.spark."
        "SparkException: Job aborted due to stage failure: Task 4 in stage 29.0 failed\n"
        "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages\n"
        "Caused by: org.apache.spark.memory.SparkOutOfMemoryError: [UNABLE_TO_ACQUIRE_MEMORY]"
        " Unable to acquire 262144 bytes of memory, got 0.\n\tat org.apache.spark.x\n")
    assert said.startswith("org.apache.spark.memory.SparkOutOfMemoryError")


def test_the_driver_takes_back_as_much_as_its_memory(spark: Any) -> None:
    # the kept transfers of a large trace (gigabytes) come back whole: Spark's own 1g cap on
    # a job's results would fail the trace of a chain a driver can hold
    from pyspark.errors import PySparkException

    from kinko.chains.tracefiles.spark import local_driver_memory, spark_failures
    from kinko.errors import EnvironmentProblem

    assert spark.conf.get("spark.driver.maxResultSize") == local_driver_memory()
    with pytest.raises(EnvironmentProblem, match="--spark-memory") as caught, spark_failures():
        raise PySparkException(
            "Job aborted due to stage failure: Total size of serialized results of 5 tasks "
            "(1253.3 MiB) is bigger than spark.driver.maxResultSize (1024.0 MiB)")
    assert "bigger than spark.driver.maxResultSize" in str(caught.value)


def test_the_driver_memory_is_checked_before_spark_starts() -> None:
    from kinko.chains.tracefiles.spark import spark_session
    from kinko.errors import BadInput

    with pytest.raises(BadInput, match="--spark-memory must be a size like 4g"):
        spark_session("local[1]", "lots")


def test_local_spark_gets_a_third_of_the_machine() -> None:
    from kinko.chains.tracefiles.spark import local_driver_memory

    shown = local_driver_memory()
    gib = int(shown.removesuffix("g"))
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**30
    assert shown.endswith("g") and 2 <= gib <= 32 and gib <= max(2, total // 3 + 1)
