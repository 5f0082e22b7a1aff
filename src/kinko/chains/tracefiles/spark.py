"""The Spark engine: a transfers file read, checked, numbered and reduced as Spark SQL.

When a chain's history does not fit one machine (Ethereum: billions of transfers), the
trace's data work runs on a Spark cluster (``kinko trace run --engine spark --spark-master
URL``) and only the part a trace can reach comes back to this process, where the exact
kernel runs (:func:`kinko.services.trace.run_trace_on`). :class:`SparkTransfers` is that
source, for the generic ``csv`` and ``parquet`` formats:

- **reading**: CSV as lines of text, each parsed beside its text (``_corrupt`` records,
  wrong field counts, and quotes left open, counted in the pass that numbers the rows and
  refused with their lines), Parquet typed; each row numbered in
  file order (per partition, offset by the rows of the partitions before: scalable, no
  single partition);
- **validation**: the same checks and messages as the DuckDB engine
  (:mod:`kinko.chains.tracefiles._read`), evaluated as column expressions in the pass that
  numbers the transfers, kept as one flag a row; the order and uniqueness checks, in one job
  over the cached transfers, join each row with the one before (an equi-join on ``row + 1``)
  and group transactions by a 128-bit key of their hash; the rows named are read back with
  their text; problems are named ``file:line`` (``file: row N``);
- **numbering**: the distinct normalised addresses, sorted (range-partitioned) and numbered,
  joined back to the transfers (a broadcast join up to :data:`BROADCAST_ADDRESSES`): the ids
  of the DuckDB engine. Only the numbered transfers are cached (integers: no text); a job that
  needs the text reads the file again, which gives the same rows in the same order;
- **reduction**: the time-respecting reachable set as semi-naive rounds of a join and a
  group-by (:func:`~kinko.chains.tracefiles.reach.reachable_times_sql`'s rounds), stops
  spreading nothing (the addresses' times kept on the driver while the address table is
  broadcast: one job a round), then the transfers a trace needs
  (:func:`~kinko.chains.tracefiles.reach.kept_positions`'s rule, and its :data:`MOST` rule);
- **collection**: only the kept transfers (ids, amounts, order columns) come to the driver, as
  Arrow, and are put in file order there; their addresses are renumbered ``0..k-1`` in the
  same order. The hashes of the transfers a report shows are read from the file by position.

Addresses are matched to seeds and labels with :func:`~kinko.domain.labels.address_key`
itself (a Python function over the distinct addresses, on the executors). Tests run Spark in
local mode (``local[2]`` bound to 127.0.0.1); :func:`spark_session` starts one session per
process and master. Sizing for a cluster is in ``docs/scale.md``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from kinko.chains.tracefiles._common import (
    _ETH_ADDRESS,
    _ETH_HASH,
    INT64_MAX,
    MAX_PROBLEMS,
    Amounts,
    Ints,
)
from kinko.chains.tracefiles._read import (
    _Field,
    _header,
    _Input,
    _missing,
    _no_twice,
    _raise,
    _reject,
    _reject_said,
    _said_value,
)
from kinko.chains.tracefiles._std import (
    said_duplicate,
    said_out_of_order,
    said_two_txs,
    said_tx_two_places,
)
from kinko.chains.tracefiles.account import _GENERIC
from kinko.chains.tracefiles.reach import MOST, NEVER
from kinko.domain.addresses import address_key, fold
from kinko.domain.messages import Message, joined, msg
from kinko.domain.money import MAX_DIGITS
from kinko.domain.trace.model import AccountTransfers, Reduced
from kinko.errors import BadInput, EnvironmentProblem, InputFileError

__all__ = ["SparkTransfers", "spark_session"]

_SESSIONS: dict[str, Any] = {}
_MEMORIES: dict[str, str] = {}  # master -> the driver memory its session was given
LOCAL_MASTER = "local[2]"
DRIVER_MEMORY = "4g"
"""The driver's heap on a cluster unless told otherwise (it holds what a trace can reach
when that comes back); Spark's own default (1g) runs out at ten million transfers."""


def local_driver_memory() -> str:
    """In local mode the driver is also the executor that aggregates, joins and collects:
    a third of this machine's memory, at least 2g and at most 32g."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX machine that says
        return DRIVER_MEMORY
    return f"{min(32, max(2, total // 3 // 2**30))}g"
BROADCAST_ADDRESSES = 5_000_000
"""Up to this many distinct addresses, the address table (about 100 bytes an address as a
hash table) is sent to every task and the transfers are numbered where they are; beyond, both
sides are shuffled by address."""
_MEMORY = re.compile(r"[1-9][0-9]{0,5}[kmgt]")


def spark_session(master: str | None = None, memory: str | None = None) -> Any:
    """The process's Spark session for ``master`` (default ``local[2]``), started once, its
    driver given ``memory`` (JVM notation: ``4g``, ``512m``; default: a third of this
    machine's memory in local mode, :data:`DRIVER_MEMORY` on a cluster).
    A local master binds the driver to 127.0.0.1 (no network beyond this machine)."""
    master = master or LOCAL_MASTER
    memory = (memory or (local_driver_memory() if master.startswith("local")
                         else DRIVER_MEMORY)).strip().lower()
    if not _MEMORY.fullmatch(memory):
        raise BadInput(f"--spark-memory must be a size like 4g or 512m, not {memory!r}",
                       field="--spark-memory",
                       says=msg("error.trace.spark_memory", value=memory[:80]))
    found = _SESSIONS.get(master)
    if found is not None:
        return found
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise EnvironmentProblem("the Spark engine needs a Java runtime (17 or later): "
                                 "install one (make installs openjdk-17-jre-headless)",
                                 says=msg("error.trace.spark_java"))
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - pyspark is a dependency
        raise EnvironmentProblem("the Spark engine needs pyspark",
                                 says=msg("error.trace.spark_no_pyspark")) from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName("kinko trace")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.pyspark.python", sys.executable)
               .config("spark.sql.adaptive.enabled", "true")
               .config("spark.driver.memory", memory)
               # the kept transfers come back to the driver: as much as its memory holds
               .config("spark.driver.maxResultSize", memory))
    if master.startswith("local"):
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.sql.shuffle.partitions", "4")
                   .config("spark.default.parallelism", "4"))
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM or the cluster did not come up
        reason = (str(exc).splitlines() or [""])[0][:300]
        raise EnvironmentProblem(f"Spark did not start ({master}): {reason}",
                                 says=msg("error.trace.spark_not_started", master=master[:200],
                                          reason=reason)) from None
    session.sparkContext.setLogLevel("ERROR")
    _SESSIONS[master] = session
    _MEMORIES[master] = memory
    return session


@contextmanager
def spark_failures() -> Iterator[None]:
    """A Spark job that fails (out of memory, a lost executor, a cluster gone) as one
    :class:`EnvironmentProblem` naming what Spark said, never a Java stack trace."""
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    try:
        yield
    except (Py4JError, PySparkException) as exc:
        said = _first_reason(str(exc))
        memory = any(sign in said for sign in _OUT_OF_MEMORY)
        hint = (": give the driver more memory (--spark-memory, now "
                f"{_memory_in_use()}) or the cluster more executors" if memory else "")
        says = (msg("error.trace.spark_failed_memory", memory=_memory_in_use()[:80],
                    reason=said) if memory else msg("error.trace.spark_failed", reason=said))
        raise EnvironmentProblem(f"the Spark job failed{hint}; Spark said: {said}",
                                 says=says) from None


# what Spark says when its driver or an executor ran out of heap (a driver that did stops
# its context: the job is then "cancelled because SparkContext was shut down")
# (or a result larger than the driver may take)
_OUT_OF_MEMORY = ("OutOfMemory", "UNABLE_TO_ACQUIRE_MEMORY", "SparkContext was shut down",
                  "spark.driver.maxResultSize")


def _first_reason(text: str) -> str:
    """The line of a Spark error that says why (the deepest ``Caused by``, else the first
    line naming an exception), cut to 300 characters."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line.removeprefix("Caused by: ") for line in lines
              if line.startswith("Caused by: ")]
    named = [line for line in lines if "Exception" in line or "Error" in line]
    return (causes[-1] if causes else named[0] if named else lines[0] if lines else
            "no reason given")[:300]


def _memory_in_use() -> str:
    """The driver memory the sessions were started with (read from kinko's own record: a
    context that died cannot be asked)."""
    return ", ".join(sorted(set(_MEMORIES.values()))) or DRIVER_MEMORY


# a line of whole fields: quoted (a doubled quote inside is one quote) or not quoted (a
# quote inside is text); a line that is not has a quote left open, or text after a closing
# quote, which the DuckDB engine names thus
_WHOLE_FIELDS = r'^(?:"(?:[^"]++|"")*"|[^",][^,]*+|)(?:,(?:"(?:[^"]++|"")*"|[^",][^,]*+|))*$'
_UNTERMINATED = ("UNQUOTED VALUE", "Value with unterminated quote found.")


def _fields() -> list[_Field]:
    return _GENERIC


class _Lines(_Input):
    """A CSV file as this engine reads it: a record is a line that is not empty (a quote
    left open ends with its line, where the DuckDB engine's record runs on into the next
    lines), so a record's line is found by counting lines."""

    def _starts(self, last: int) -> list[int]:
        starts: list[int] = []
        # the line breaks Spark's text reader splits at: \n, \r\n and a lone \r
        with self.path.open(encoding="utf-8", errors="replace", newline=None) as fh:
            header = True
            for number, line in enumerate(fh, 1):
                if line in ("\n", ""):
                    continue
                if header:  # the first line that is not empty: the header
                    header = False
                    continue
                starts.append(number)
                if len(starts) > last:
                    break
        return starts


class SparkTransfers:
    """Transfers of a generic ``csv`` or ``parquet`` file, read and checked by Spark (at
    construction; problems raise :class:`InputFileError` as the DuckDB engine words them),
    kept there; a :class:`~kinko.services.trace.TransferSource`."""

    def __init__(self, path: Path, fmt: str, *, asset: str | None = None,
                 master: str | None = None, memory: str | None = None) -> None:
        from pyspark.sql import functions as F

        self.F = F
        self.path = Path(path)
        self.name = str(self.path)
        if fmt not in ("csv", "parquet"):
            raise InputFileError(f"{self.path}: the Spark engine reads the csv and parquet "
                                 f"formats, not {fmt!r}", file=self.name,
                                 says=msg("error.tracefile.spark_format", file=self.name[:200],
                                          format=str(fmt)[:80]))
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: no such file", file=self.name,
                                 says=msg("error.tracefile.no_such_file", file=self.name[:200]))
        self.spark = spark_session(master, memory)
        self.parquet = fmt == "parquet"
        self.raw, columns = self._read()
        self.inp = _Lines(self.path, "raw", columns, is_csv=not self.parquet)
        self._std = self._standard(asset)
        self._number()
        self._check()
        self._narrow()

    # --- reading -------------------------------------------------------------------------

    def _read(self) -> tuple[Any, dict[str, tuple[str, str]]]:
        """The file as a DataFrame with ``_row`` (the record's number in the file) and one
        column per field found (named by its key); the (header, type) of each."""
        F, fields = self.F, _fields()
        keys = {f.key for f in fields}
        if self.path.stat().st_size == 0:  # an empty export: the columns, no rows
            from pyspark.sql.types import LongType, StringType, StructField, StructType

            columns = {f.key: (f.key, "VARCHAR") for f in fields if f.required}
            schema = StructType([StructField("_row", LongType())] + [
                StructField(k, StringType()) for k in columns])
            return self.spark.createDataFrame([], schema), columns
        if self.parquet:
            try:
                df = self.spark.read.parquet(str(self.path))
                names = df.columns
            except Exception as exc:
                reason = (str(exc).splitlines() or [""])[0][:200]
                raise InputFileError(f"{self.path}: cannot read as Parquet: {reason}",
                                     file=self.name,
                                     says=msg("error.tracefile.not_parquet",
                                              file=self.name[:200], reason=reason)) from None
            _missing(self.name, "", fields, names)
            _no_twice(self.name, "", fields, names)
            types = {}
            for field in reversed(df.schema.fields):
                types[field.name.lower()] = (field.name, _duck_type(field.dataType))
            columns = {k: v for k, v in types.items() if k in keys}
            df = df.select(F.col("_metadata.row_index").alias("_row"),
                           *(F.col(f"`{n}`").alias(k) for k, (n, _t) in columns.items()))
            return df, columns
        header = _header(self.path)
        _missing(self.name, ":1", fields, header)
        _no_twice(self.name, ":1", fields, header)
        from pyspark.sql.types import StringType, StructField, StructType

        schema = StructType([StructField(f"c{i}", StringType()) for i in range(len(header))]
                            + [StructField("_corrupt", StringType())])
        # the file as lines (every line that is not empty: the DuckDB engine takes a line
        # of blanks for a record), each parsed beside its text: a record with a quote left
        # open (or text after a closing quote) is named as the DuckDB engine names it, which
        # Spark's parser, reading a line at a time, takes as a value ending with the line
        lines = (self.spark.read.option("encoding", "UTF-8").text(str(self.path))
                 .where(F.col("value") != ""))
        parsed = F.from_csv(F.col("value"), schema.simpleString().removeprefix("struct<")
                            .removesuffix(">").replace(":", " "),
                            {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt",
                             "escape": '"', "quote": '"'})
        # (a line without a quote is whole fields: the pattern runs only on the others)
        opened = F.col("value").contains('"') & ~F.col("value").rlike(_WHOLE_FIELDS)
        df = lines.select(parsed.alias("r"), opened.alias("_open")).select("_open", "r.*")
        # the malformed records counted in the numbering's pass over the file (the header,
        # line 1, numbered 0 and then left out); named (a pass more) only when there are some
        malformed = F.count(F.when(F.col("_corrupt").isNotNull() | F.col("_open"), 1))
        df, _rows, corrupt = _numbered(df, "_line", cache=False, flagged=malformed)
        df = df.where(F.col("_line") > 0).select((F.col("_line") - 1).alias("_row"), "*")
        bad = (df.where(F.col("_corrupt").isNotNull() | F.col("_open"))
               .select("_row", "_corrupt", "_open")
               .orderBy("_row").limit(MAX_PROBLEMS).collect()) if corrupt else []
        first_open = next((i for i, r in enumerate(bad) if r["_open"]), None)
        if first_open is not None:  # past a quote left open the DuckDB engine reads no record
            bad = bad[:first_open + 1]
        if bad:
            inp = _Lines(self.path, "raw", {}, is_csv=True)
            where = inp.where(int(r["_row"]) for r in bad)
            texts = [(*_UNTERMINATED, None, len(header)) if r["_open"] else
                     ("MISSING COLUMNS", "", str(r["_corrupt"]), len(header)) for r in bad]
            problems = [f"{where[int(r['_row'])]}: {_reject(*t)}"
                        for r, t in zip(bad, texts, strict=True)]
            said = [msg("error.tracefile.at", where=inp.said_where(int(r["_row"])),
                        problem=_reject_said(*t)) for r, t in zip(bad, texts, strict=True)]
            raise InputFileError(
                f"{self.path}: {len(problems)} malformed record(s)", problems=problems,
                problems_said=said, file=self.name,
                says=msg("error.tracefile.malformed", file=self.name[:200],
                         count=len(problems),
                         first=msg("error.tracefile.at", where=inp.said_at(int(bad[0]["_row"])),
                                   problem=_reject_said(*texts[0]))))
        position: dict[str, int] = {}
        for i, h in enumerate(header):
            position.setdefault(h.lower(), i)
        chosen = {k: i for k, i in position.items() if k in keys}
        columns = {k: (header[i], "VARCHAR") for k, i in chosen.items()}
        return df.select("_row", *(F.col(f"c{i}").alias(k) for k, i in chosen.items())), \
            columns

    # --- the standard view and its checks ------------------------------------------------

    def _standard(self, asset: str | None) -> Any:
        F, inp, raw = self.F, self.inp, self.raw
        keep = self._asset_filter(raw, asset)
        # every row kept: a transfer's position is its record's number (no renumbering)
        self._all = keep is None
        bad = _bad(F, inp, _fields())
        std = raw.select(
            "_row", bad.alias("_bad"), (F.lit(True) if keep is None else keep).alias("_keep"),
            F.col("tx_hash").cast("string").alias("tx_hash"),
            _int(F, inp, "block").alias("block"), _int(F, inp, "tx_index").alias("tx_index"),
            _int(F, inp, "log_index").alias("log_index"),
            _normal(F, F.col("from"), _ETH_ADDRESS).alias("src"),
            _normal(F, F.col("to"), _ETH_ADDRESS).alias("dst"),
            _amount(F, inp, "value").alias("value"), _amount(F, inp, "fee").alias("fee"))
        std = self._every = std.withColumn("h", _normal(F, F.col("tx_hash"), _ETH_HASH))
        # never cached (the text of every row would outgrow memory at chain scale): each
        # job that needs the text reads the file again, and the file's rows come in the same
        # order each time, so a transfer's position does not change
        if keep is None:  # every row kept: a transfer's position is its record's number
            return std.select(F.col("_row").alias("pos"), *std.columns)
        return _numbered(std.where("_keep"), "pos", cache=False)[0]

    def _asset_filter(self, raw: Any, asset: str | None) -> Any:
        """The condition a row of the chosen asset meets; None when every row is kept."""
        F, inp = self.F, self.inp
        if inp.has("asset") is False or self.path.stat().st_size == 0:
            if asset is not None and self.path.stat().st_size > 0:
                raise InputFileError(f"{self.name}: no asset column to choose {asset!r} by",
                                     file=self.name,
                                     says=msg("error.tracefile.no_asset_column",
                                              file=self.name[:200], column="asset",
                                              asset=asset[:80]))
            return None
        value = F.trim(F.col("asset").cast("string"))
        found = [str(r[0]) for r in raw.select(value.alias("a")).distinct()
                 .orderBy(F.col("a").asc_nulls_last()).limit(11).collect()]
        shown = ", ".join(f if len(f) <= 80 else f[:79] + "…" for f in found[:10]) + (
            ", ..." if len(found) > 10 else "")
        if asset is None:
            if len(found) > 1:
                raise InputFileError(f"{self.name}: transfers of several assets ({shown}); "
                                     "choose one with --asset (or --token)", file=self.name,
                                     says=msg("error.tracefile.several_assets",
                                              file=self.name[:200], found=shown[:200]))
            return None
        keep = F.coalesce(value == F.lit(asset.strip()), F.lit(False))
        if raw.where(keep).limit(1).count() == 0:
            raise InputFileError(f"{self.name}: no transfers of {asset} "
                                 f"(found: {shown or 'none'})", file=self.name,
                                 says=msg("error.tracefile.no_transfers", file=self.name[:200],
                                          asset=asset[:80],
                                          found=shown[:200] or msg("error.tracefile.none")))
        return keep

    def _check(self) -> None:
        """The value checks, then order and uniqueness, as the DuckDB engine words them.

        The transfers are numbered and cached narrow first (:meth:`_number`: integers and a
        flag for a wrong value, no text); the problems are named from the file only when some
        row is wrong."""
        F, inp = self.F, self.inp
        parts = [p for f in _fields() if inp.has(f.key)
                 for p in [_problem(F, inp, f)] if p is not None]
        # a file read whole has its wrong values flagged in the numbering's pass; rows of
        # other assets are checked too, by a pass of their own
        wrong = (self._bad_rows if self._all else
                 self._every.where("_bad").limit(1).count() if parts else 0)
        if parts and wrong:
            rows = (self.raw.select("_row", F.concat_ws("; ", *parts).alias("m"))
                    .where(F.col("m") != "").orderBy("_row").limit(MAX_PROBLEMS).collect())
            said = self._rows_said([int(r["_row"]) for r in rows])
            _raise(inp, [(int(r["_row"]), str(r["m"]), said[int(r["_row"])]) for r in rows])
        problems = self._order_problems()
        wrong_order = [(r, m, s) for k, r, m, s in problems if k == 0]
        _raise(inp, wrong_order or [(r, m, s) for _k, r, m, s in problems])

    def _rows_said(self, rows: list[int]) -> dict[int, Message]:
        """What is wrong in each record of ``rows``, as catalog messages, as the DuckDB
        engine words them: the conditions of :func:`_conditions` evaluated on those rows,
        the first that holds of each field, the fields in order (``a; b``)."""
        F, inp = self.F, self.inp
        rules = [(f, c, i, s, n) for f in _fields() if inp.has(f.key)
                 for c, i, s, n in _said_rules(F, inp, f)]
        found = (self.raw.where(F.col("_row").isin(rows)).select("_row", *(
            x for k, (_f, c, _i, s, n) in enumerate(rules)
            for x in (F.coalesce(c, F.lit(False)).alias(f"c{k}"),
                      s.cast("string").alias(f"s{k}"), n.alias(f"n{k}")))).collect()
            if rows else [])
        by_row = {int(r["_row"]): r for r in found}
        out: dict[int, Message] = {}
        for row in rows:
            values = by_row.get(row)
            wrong: list[Message] = []
            done: set[str] = set()  # the fields whose first wrong condition is said
            for k, (field, _c, id_, _s, _n) in enumerate(rules):
                if values is None or field.key in done or not values[f"c{k}"]:
                    continue
                done.add(field.key)
                wrong.append(_said_value(id_, inp.label(field.key)[:80],
                                         str(values[f"s{k}"] or "")[:80],
                                         int(values[f"n{k}"] or 0)))
            out[row] = (joined(wrong) if wrong
                        else msg("error.tracefile.values_wrong", file=inp.name[:200]))
        return out

    def _order_problems(self) -> list[tuple[int, int, str, Message]]:
        """(kind, row, problem) of rows out of order or repeated (kind 0), of two transactions
        at one (block, tx_index) (1) and of a transaction at two places (2), at most
        :data:`MAX_PROBLEMS` of each: one job over the narrow rows, each paired with the one
        before by a single equi-join (``pos + 1``) that the three checks share; hashes are
        compared by their 128-bit keys, and the rows named are then read with their text."""
        F = self.F
        from pyspark.sql import Window

        wide = self._wide if not self._all else self._wide.withColumn("_row", F.col("pos"))
        cols = ("_row", "block", "tx_index", "log_index", "hk1", "hk2", "rk")
        b = wide.select("pos", *cols)
        a = wide.select((F.col("pos") + 1).alias("pos"), F.lit(True).alias("p"),
                        *(F.col(c).alias(f"p{c}") for c in cols))
        pairs = b.join(a, "pos", "left")
        later = ((F.col("block") > F.col("pblock"))
                 | ((F.col("block") == F.col("pblock"))
                    & ((F.col("tx_index") > F.col("ptx_index"))
                       | ((F.col("tx_index") == F.col("ptx_index"))
                          & (F.col("log_index") > F.col("plog_index"))))))
        same_tx = ((F.col("block") == F.col("pblock"))
                   & (F.col("tx_index") == F.col("ptx_index")))
        none = F.lit(None).cast("long")

        def shown(kind: int, frame: Any, other: str, before: Any, *more: Any) -> Any:
            return (frame.select(F.lit(kind).alias("k"), "pos", "_row", F.col(other).alias("o"),
                                 before.alias("q"), "block", "tx_index", "log_index", *more)
                    .orderBy("_row").limit(MAX_PROBLEMS))

        wrong = shown(0, pairs.where(F.col("p") & ~later), "p_row", none,
                      F.col("pblock").alias("ob"), F.col("ptx_index").alias("ot"),
                      F.col("plog_index").alias("ol"))
        # one transaction per (block, tx_index): next to each other, as the rows are sorted
        # (two texts that differ have different keys; the text as read differs too then)
        clash = shown(1, pairs.where(same_tx & ((F.col("hk1") != F.col("phk1"))
                                                | (F.col("hk2") != F.col("phk2")))),
                      "p_row", F.col("pos") - 1, none.alias("ob"), none.alias("ot"),
                      none.alias("ol"))
        # each transaction at one place: the first row of each transaction, by hash as read
        # (equal keys of different texts, were there any, are told apart below)
        starts = pairs.where(F.col("p").isNull() | ~F.coalesce(same_tx, F.lit(False)))
        w = Window.partitionBy("hk1", "hk2", "rk").orderBy("pos")
        twice = shown(2, starts.withColumn("k", F.row_number().over(w))
                      .withColumn("f_pos", F.first("pos").over(w))
                      .withColumn("f_row", F.first("_row").over(w))
                      .withColumn("f_block", F.first("block").over(w))
                      .withColumn("f_txi", F.first("tx_index").over(w))
                      .where(F.col("k") > 1), "f_row", F.col("f_pos"),
                      F.col("f_block").alias("ob"), F.col("f_txi").alias("ot"),
                      none.alias("ol"))
        rows = wrong.unionAll(clash).unionAll(twice).collect()
        named = [int(r[c]) for r in rows if r["k"] for c in ("pos", "q")]
        texts: dict[int, tuple[str, str]] = {}
        if named:
            got = self._texts(np.array(named, dtype=np.int64)).to_pydict()
            texts = {int(p): (str(t), str(h))
                     for p, t, h in zip(got["pos"], got["tx_hash"], got["h"], strict=True)}
        return self._worded(rows, texts)

    def _worded(self, rows: list[Any], texts: dict[int, tuple[str, str]]
                ) -> list[tuple[int, int, str, Message]]:
        """The problems found, as the DuckDB engine words them (and as catalog
        messages)."""
        inp = self.inp
        found: list[tuple[int, int, str, Message]] = []
        for r in rows:
            row, other = int(r["_row"]), inp.line(int(r["o"]))
            where = inp.said_at(int(r["o"]))
            now = (r["block"], r["tx_index"], r["log_index"])
            if r["k"] == 0 and now == (r["ob"], r["ot"], r["ol"]):
                text = (f"duplicate: block {now[0]}, tx_index {now[1]}, log_index {now[2]} "
                        f"again (first on {other})")
                said = said_duplicate(now, where)
            elif r["k"] == 0:
                text = (f"out of order: block {now[0]}, tx_index {now[1]}, log_index "
                        f"{now[2]} comes after block {r['ob']}, tx_index {r['ot']}, "
                        f"log_index {r['ol']} on {other}; sort the file by (block, "
                        "tx_index, log_index)")
                said = said_out_of_order(now, (r["ob"], r["ot"], r["ol"]), where)
            elif r["k"] == 1:
                text = (f"block {now[0]}, tx_index {now[1]} holds two transactions, "
                        f"{texts[int(r['pos'])][1]} and {texts[int(r['q'])][1]} (on {other})")
                said = said_two_txs(now[0], now[1], texts[int(r["pos"])][1],
                                    texts[int(r["q"])][1], where)
            elif texts[int(r["pos"])][0] != texts[int(r["q"])][0]:
                continue  # two hashes of one key: not the same transaction
            else:
                text = (f"transaction {texts[int(r['pos'])][1]} is at block {now[0]}, "
                        f"tx_index {now[1]}, but at block {r['ob']}, tx_index {r['ot']} on "
                        f"{other}")
                said = said_tx_two_places(texts[int(r["pos"])][1], (now[0], now[1]),
                                          (r["ob"], r["ot"]), where)
            found.append((int(r["k"]), row, text, said))
        return found

    # --- numbering -------------------------------------------------------------------------

    def _number(self) -> None:
        """Addresses numbered in the order of their normalised text; the transfers with ids,
        cached narrow (integers, a flag for a wrong value and a 128-bit key of the hash: no
        text), with the figures the checks need, in one pass over the file."""
        F = self.F
        std = self._std
        # both addresses of a row from one read of the file (a union would read it twice)
        names = std.select(F.explode(F.array("src", "dst")).alias("a")).distinct().orderBy("a")
        # _numbered's tagged rows stay cached as long as the ids live (never released): a
        # lost partition of the ids is recomputed from them with the offsets counted once,
        # where sorting again could draw other bounds and number the addresses differently
        ids, self.m, _ = _numbered(names, "id")  # (the count of each partition: no job more)
        self.ids = ids.cache()
        v = F.expr("try_cast(value AS BIGINT)")
        f = F.expr("try_cast(fee AS BIGINT)")
        # the hash's key: two 64-bit hashes of the normalised text, and a third of the text
        # as read when it differs (the order checks compare and group by it; the few rows
        # they name are then read with their text)
        checks = [(v.isNull() & F.col("value").isNotNull()).alias("vbig"),
                  (f.isNull() & F.col("fee").isNotNull()).alias("fbig"),
                  F.xxhash64("h").alias("hk1"), F.xxhash64("h", F.lit("kinko")).alias("hk2"),
                  F.when(F.col("tx_hash") != F.col("h"), F.xxhash64("tx_hash")).alias("rk")]
        wide = self._numbered_transfers([v.alias("v"), f.alias("f")], checks).cache()
        # int64 amounts when every amount and their total fit (as the DuckDB engine decides,
        # over every transfer read), else Python ints
        found = wide.agg(
            F.count(F.lit(1)), F.sum(F.col("_bad").cast("int")),
            F.sum(F.col("vbig").cast("int")), F.sum(F.col("fbig").cast("int")),
            F.sum(F.col("v").cast("decimal(38,0)")), F.sum(F.col("f").cast("decimal(38,0)")),
        ).collect()[0]
        self.n = int(found[0])
        self._bad_rows = int(found[1] or 0)
        totals = int(found[4] or 0) + int(found[5] or 0)
        self.big = bool(found[2]) or bool(found[3]) or totals > INT64_MAX
        self._wide = wide

    def _numbered_transfers(self, amounts: list[Any], more: list[Any]) -> Any:
        """The transfers read with their addresses' ids (``s``, ``d``), ``amounts`` and
        ``more`` columns: an address table that fits a task's memory goes to every task (a
        broadcast hash join: the transfers stay where they are); a larger one is joined by
        shuffle. Outer joins: a row with no address is kept (and flagged wrong)."""
        F = self.F
        ids = F.broadcast(self.ids) if self.m <= BROADCAST_ADDRESSES else self.ids
        x = (self._std.join(ids.select(F.col("a").alias("src"), F.col("id").alias("s")), "src",
                            "left")
             .join(ids.select(F.col("a").alias("dst"), F.col("id").alias("d")), "dst", "left"))
        row = [] if self._all else ["_row"]
        return x.select("pos", *row, "s", "d", "block", "tx_index", "log_index", *amounts,
                        "_bad", *more)

    def _narrow(self) -> None:
        """What the trace needs of each transfer, cached in place of the checks' columns:
        ids, order columns and amounts (as int64, or as their digits when some do not
        fit)."""
        F = self.F
        cols = ["pos", "s", "d", "block", "tx_index", "log_index"]
        if self.big:
            self.x = self._numbered_transfers([F.col("value"), F.col("fee")], []) \
                .select(*cols, "value", "fee").cache()
        else:
            self.x = self._wide.select(*cols, "v", "f").cache()
        self.x.count()
        self._wide.unpersist()

    def _texts(self, positions: Ints) -> Any:
        """The hashes (as read, ``tx_hash``, and normalised, ``h``) of the transfers at
        ``positions`` (a few, or those a report shows), read from the file by position."""
        want = self._frame(pos=np.unique(np.asarray(positions, dtype=np.int64)))
        return (self._std.select("pos", "tx_hash", "h").join(self.F.broadcast(want), "pos")
                .toArrow())

    # --- the TransferSource --------------------------------------------------------------

    def read_count(self) -> int:
        return int(self.n)

    def address_count(self) -> int:
        return int(self.m)

    def find_txs(self, wanted: set[str]) -> dict[str, list[int]]:
        F = self.F
        if not wanted:
            return {}
        # lower(h) is the text as read, trimmed and lower-cased: no pattern to match
        rows = (self._std.select("pos", F.lower(F.trim(F.col("tx_hash"))).alias("k"))
                .where(F.col("k").isin(sorted(wanted))).collect())
        found: dict[str, list[int]] = {}
        for r in sorted(rows, key=lambda r: int(r["pos"])):
            found.setdefault(str(r["k"]), []).append(int(r["pos"]))
        return found

    def position_of_block(self, block: int) -> int:
        return int(self.x.where(self.F.col("block") < int(block)).count())

    def address_ids(self, keys: set[str]) -> dict[str, list[int]]:
        """Ids of the addresses whose :func:`address_key` is one of ``keys``."""
        if not keys:
            return {}
        keys = {address_key(k) for k in keys}
        wanted = self.spark.sparkContext.broadcast((frozenset(keys),
                                                    frozenset(fold(k) for k in keys)))
        # a cheap fold first (as locate_addresses), then the key of the few that match
        found = (self.ids.rdd.filter(lambda r: fold(str(r["a"])) in wanted.value[1])
                 .map(lambda r: (address_key(str(r["a"])), int(r["id"])))
                 .filter(lambda p: p[0] in wanted.value[0]).collect())
        out: dict[str, list[int]] = {}
        for key, ident in sorted(found, key=lambda p: p[1]):
            out.setdefault(key, []).append(ident)
        return out

    def reduce(self, seed_positions: Ints, seed_addresses: list[tuple[int, int]],
               stop_ids: Ints) -> Any:
        F = self.F
        stops = self._frame(addr=np.asarray(stop_ids, dtype=np.int64))
        # the transfers out of non-stops, read from the cache in each round (not kept twice)
        edges = self.x.join(F.broadcast(stops), self.x.s == stops.addr, "left_anti") \
            .select("pos", "s", "d")
        # the addresses a round starts from (never more than the address table) go to every
        # task when the address table does: the transfers are then not shuffled in a round
        small = self.m <= BROADCAST_ADDRESSES
        if small:
            reached, rounds = self._reach_here(edges, seed_positions, seed_addresses)
        else:
            reached, rounds = self._reach_there(edges, seed_positions, seed_addresses)
        seed_ids = [a for a, _ in seed_addresses]
        quiet = stops.where(~F.col("addr").isin(seed_ids)) if seed_ids else stops
        spreads = reached.join(quiet, "addr", "left_anti")
        marks = [int(p) for _, p in seed_addresses]
        # kept: into a reached address, out of one that spreads, or a seed address's mark;
        # one pass over the cached transfers, the reached addresses flagged on each (sent to
        # every task as the address table is), no union of positions to make distinct
        into = reached.select(F.col("addr").alias("d"), F.lit(True).alias("into"))
        out = spreads.select(F.col("addr").alias("s"), F.lit(True).alias("out"))
        flagged = (self.x.join(F.broadcast(into) if small else into, "d", "left")
                   .join(F.broadcast(out) if small else out, "s", "left"))
        wanted = (F.col("into").isNotNull() | F.col("out").isNotNull()
                  | F.col("pos").isin(marks))
        # the kept transfers come here with no count before (a job more); when they are
        # most of the chain, the rest follow and the trace runs on all of them: never more
        # rows collected than the whole chain, as a count then the chain would
        table = flagged.where(wanted).select(*self.x.columns).toArrow()
        count = table.num_rows
        if count >= MOST * self.n:
            table = pa.concat_tables(
                [table, flagged.where(~wanted).select(*self.x.columns).toArrow()])
        # in file order here, not by a sort of the kept transfers on the cluster
        table = table.take(pa.array(np.argsort(_np(table["pos"]), kind="stable")))
        kept = _np(table["pos"])
        src, dst = _np(table["s"]), _np(table["d"])
        both = np.sort(np.concatenate([src, dst]))
        dense = both[np.r_[True, both[1:] != both[:-1]]] if len(both) else both
        names = self._names(dense)
        if self.big:
            value, fee = _big(table["value"]), _big(table["fee"])
        else:
            value, fee = _np(table["v"]), _np(table["f"])
        transfers = AccountTransfers(
            src=np.searchsorted(dense, src).astype(np.int64),
            dst=np.searchsorted(dense, dst).astype(np.int64), value=value, fee=fee,
            block=_np(table["block"]), tx_index=_np(table["tx_index"]),
            log_index=_np(table["log_index"]), tx_hash=np.empty(0, dtype=object),
            addresses=names)
        return Reduced(transfers, kept, dense,
                       lambda positions: self._hashes(kept[np.asarray(positions, np.int64)]),
                       {"rounds": rounds, "kept": int(count), "read": int(self.n),
                        "addresses": int(self.m)})

    def _reach_here(self, edges: Any, seed_positions: Ints,
                    seed_addresses: list[tuple[int, int]]) -> tuple[Any, int]:
        """The reached addresses (a DataFrame of ``addr``) and the rounds run, the addresses'
        ``t`` kept here, on the driver: an address table that is broadcast fits its memory,
        and each round's frontier comes through it to be broadcast anyway. A round is then
        one job (the candidates of the frontier, grouped by receiver, back as Arrow: at most
        one row an address) where keeping the table on the cluster costs four or five (the
        new times checkpointed, their minimum, the table's union checkpointed), each
        planned, compiled and scheduled; the rounds and what they reach are the same."""
        F = self.F
        times = np.full(int(self.m), NEVER, dtype=np.int64)
        addr = np.array([a for a, _ in seed_addresses], dtype=np.int64)
        t = np.array([p for _, p in seed_addresses], dtype=np.int64)
        if len(seed_positions):
            seeds = self._frame(pos=np.asarray(seed_positions, dtype=np.int64))
            got = (self.x.join(F.broadcast(seeds), "pos")
                   .select("d", (F.col("pos") + 1).alias("t")).toArrow())
            addr, t = np.concatenate([addr, _np(got["d"])]), np.concatenate([t, _np(got["t"])])
        np.minimum.at(times, addr, t)
        front = np.flatnonzero(times != NEVER)
        rounds = 0
        while len(front):
            rounds += 1
            frontier = self._frame(s=front, t=times[front])
            got = (edges.where(F.col("pos") >= int(times[front].min()))
                   .join(F.broadcast(frontier), "s").where(F.col("pos") >= F.col("t"))
                   .groupBy("d").agg((F.min("pos") + 1).alias("t")).toArrow())
            addr, t = _np(got["d"]), _np(got["t"])
            better = t < times[addr]  # new, or earlier than known (one row an address)
            times[addr[better]] = t[better]
            front = np.sort(addr[better])
        return self._frame(addr=np.flatnonzero(times != NEVER).astype(np.int64)), rounds

    def _reach_there(self, edges: Any, seed_positions: Ints,
                     seed_addresses: list[tuple[int, int]]) -> tuple[Any, int]:
        """:meth:`_reach_here` for an address table too large for one machine: the reached
        addresses and their ``t`` stay on the cluster, each round's tables checkpointed (the
        plan stays one round deep), the frontier shuffled with the transfers."""
        F = self.F
        seeds = self._frame(pos=np.asarray(seed_positions, dtype=np.int64))
        starts = (self.x.join(F.broadcast(seeds), "pos").select(F.col("d").alias("addr"),
                                                               (F.col("pos") + 1).alias("t"))
                  .union(self._frame(addr=np.array([a for a, _ in seed_addresses], np.int64),
                                     t=np.array([p for _, p in seed_addresses], np.int64))))
        reach = starts.groupBy("addr").agg(F.min("t").alias("t")).localCheckpoint()
        delta = reach
        rounds = 0
        lo = delta.agg(F.min("t")).collect()[0][0]
        while lo is not None:
            rounds += 1
            frontier = delta.select(F.col("addr").alias("s"), F.col("t"))
            cand = (edges.where(F.col("pos") >= int(lo)).join(frontier, "s")
                    .where(F.col("pos") >= F.col("t"))
                    .groupBy(F.col("d").alias("addr")).agg((F.min("pos") + 1).alias("t")))
            delta = (cand.alias("c").join(reach.alias("r"), "addr", "left")
                     .where(F.col("r.t").isNull() | (F.col("c.t") < F.col("r.t")))
                     .select("addr", F.col("c.t").alias("t"))).localCheckpoint()
            lo = delta.agg(F.min("t")).collect()[0][0]
            if lo is not None:
                reach = (reach.union(delta).groupBy("addr").agg(F.min("t").alias("t"))
                         .localCheckpoint())
        return reach.select("addr"), rounds

    def _hashes(self, positions: Ints) -> Any:
        """The normalised hashes of the transfers at ``positions`` (an Arrow string array in
        their order), read from the file: the cache holds no text."""
        if len(positions) == 0:
            return pa.array([], type=pa.string())
        got = self._texts(positions)
        order = np.argsort(_np(got["pos"]), kind="stable")
        at = _np(got["pos"])[order]
        return got["h"].combine_chunks().take(
            pa.array(order[np.searchsorted(at, positions)]))

    def _frame(self, **columns: Ints) -> Any:
        """A small DataFrame of int64 columns, from Arrow."""
        return self.spark.createDataFrame(pa.table({k: pa.array(v, type=pa.int64())
                                                    for k, v in columns.items()}))

    def _names(self, dense: Ints) -> npt.NDArray[np.object_]:
        if len(dense) == 0:
            return np.empty(0, dtype=object)
        # put in order here (the k names came here anyway), not by a sort on the cluster:
        # a range-partitioned sort is a sampling job and a shuffle more
        got = self.ids.join(self.F.broadcast(self._frame(id=dense)), "id").toArrow()
        order = pa.array(np.argsort(_np(got["id"]), kind="stable"))
        return np.asarray(got["a"].take(order).to_numpy(zero_copy_only=False), dtype=object)


# --- column expressions (the DuckDB engine's checks, as Spark columns) -------------------


def _duck_type(dtype: Any) -> str:
    """A Spark type as the DuckDB type name the checks are written for."""
    from pyspark.sql import types as T

    if isinstance(dtype, T.StringType):
        return "VARCHAR"
    if isinstance(dtype, T.LongType):
        return "BIGINT"
    if isinstance(dtype, T.IntegerType):
        return "INTEGER"
    if isinstance(dtype, T.ShortType):
        return "SMALLINT"
    if isinstance(dtype, T.ByteType):
        return "TINYINT"
    if isinstance(dtype, T.DecimalType):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    return dtype.simpleString().upper()  # type: ignore[no-any-return]


def _conditions(F: Any, inp: _Input, field: _Field) -> list[tuple[Any, Any]]:
    """(condition, message) columns: as :func:`kinko.chains.tracefiles._read._conditions`."""
    col, label, dtype = F.col(field.key), inp.label(field.key), inp.type(field.key)
    lab = F.lit(label)
    empty = (col.isNull() | (F.trim(col) == "")) if dtype == "VARCHAR" else col.isNull()
    if field.kind == "label" or (field.kind in ("text", "address") and field.nullable):
        return []
    if field.kind in ("text", "address"):
        return [(empty, F.concat(lab, F.lit(" is empty")))]
    found = [] if field.nullable else [(empty, F.concat(lab, F.lit(" is empty")))]
    if dtype == "VARCHAR":
        s = F.when(F.trim(col) != "", F.trim(col))
        digits = "[0-9]+"
        found += [(s.rlike(f"^-({digits})$"), F.concat(lab, F.lit(" is negative: "), s)),
                  (~s.rlike(f"^{digits}$"), F.concat(lab, F.lit(" is not a whole number: "),
                                                     F.substring(s, 1, 80)))]
        if field.kind == "int":
            found.append((s.isNotNull() & F.expr(f"try_cast(trim(`{field.key}`) AS BIGINT)")
                          .isNull(), F.concat(lab, F.lit(" is too large: "), s)))
        if field.kind == "amount":
            found.append((F.length(F.regexp_replace(s, "^0+", "")) > MAX_DIGITS,
                          F.concat(lab, F.lit(" is too large: "), F.substring(s, 1, 80),
                                   F.lit("... ("), F.length(s).cast("string"),
                                   F.lit(f" digits; at most {MAX_DIGITS})"))))
        return found
    if dtype in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT") or dtype.startswith("DECIMAL"):
        shown = col.cast("string")
        found.append((col < 0, F.concat(lab, F.lit(" is negative: "), shown)))
        if dtype.startswith("DECIMAL"):
            found.append((col != F.floor(col), F.concat(lab, F.lit(" is not a whole number: "),
                                                        shown)))
            if field.kind == "int":
                found.append((col > F.lit(INT64_MAX).cast("decimal(38,0)"),
                              F.concat(lab, F.lit(" is too large: "), shown)))
        return found
    raise InputFileError(
        f"{inp.name}: column {label} has type {dtype}; expected whole numbers "
        "(integers, decimal(38,0) or text)", file=inp.name,
        says=msg("error.tracefile.column_type", file=inp.name[:200], column=label[:80],
                 type=dtype[:80]))


def _said_rules(F: Any, inp: _Input, field: _Field) -> list[tuple[Any, str, Any, Any]]:
    """(condition, catalog id, value shown, its length) in the order of :func:`_conditions`
    (the same conditions: each that holds first names what is wrong)."""
    col, dtype = F.col(field.key), inp.type(field.key)
    found = _conditions(F, inp, field)
    if field.kind in ("text", "address", "label"):
        ids = ["empty"] * len(found)
    else:
        ids = [] if field.nullable else ["empty"]
        ids.append("negative")
        if dtype == "VARCHAR" or dtype.startswith("DECIMAL"):
            ids.append("not_whole")
        ids += ["too_many_digits" if field.kind == "amount" and dtype == "VARCHAR"
                else "too_large"] * (len(found) - len(ids))
    if len(ids) != len(found):
        return []
    shown = (F.substring(F.trim(col), 1, 80) if dtype == "VARCHAR"
             else F.substring(col.cast("string"), 1, 80))
    digits = F.length(F.trim(col.cast("string")))
    return [(c, f"error.tracefile.value.{i}", shown, digits)
            for (c, _m), i in zip(found, ids, strict=True)]


def _problem(F: Any, inp: _Input, field: _Field) -> Any:
    found = _conditions(F, inp, field)
    if not found:
        return None
    expr = None
    for cond, message in found:
        cond = F.coalesce(cond, F.lit(False))
        expr = F.when(cond, message) if expr is None else expr.when(cond, message)
    return expr


def _bad(F: Any, inp: _Input, fields: list[_Field]) -> Any:
    found = [F.coalesce(c, F.lit(False)) for f in fields if inp.has(f.key)
             for c, _ in _conditions(F, inp, f)]
    if not found:
        return F.lit(False)
    out = found[0]
    for c in found[1:]:
        out = out | c
    return out


def _normal(F: Any, col: Any, pattern: str) -> Any:
    """Trimmed; lower-cased when an Ethereum hex address (or hash), as ``_normal_sql``."""
    e = F.trim(col.cast("string"))
    return F.when(e.rlike(f"^{pattern}$"), F.lower(e)).otherwise(e)


def _int(F: Any, inp: _Input, key: str) -> Any:
    if not inp.has(key):
        return F.lit(0).cast("long")
    if inp.type(key) == "VARCHAR":
        return F.expr(f"try_cast(trim(`{key}`) AS BIGINT)")
    return F.expr(f"try_cast(`{key}` AS BIGINT)")


def _amount(F: Any, inp: _Input, key: str) -> Any:
    """The amount as its decimal digits (text): exact at any size."""
    if not inp.has(key):
        return F.lit("0")
    if inp.type(key) == "VARCHAR":
        return F.trim(F.col(key))
    if inp.type(key).startswith("DECIMAL"):
        return F.col(key).cast("decimal(38,0)").cast("string")
    return F.col(key).cast("string")


def _numbered(df: Any, name: str, *, cache: bool = True, flagged: Any = None
              ) -> tuple[Any, int, int]:
    """``df`` with a first column ``name``: each row's number in the DataFrame's order, how
    many rows it has, and the sum of the count ``flagged`` (an aggregate; 0 without one),
    taken in the same pass. Rows are numbered within their partition
    (``monotonically_increasing_id``) and offset by the rows of the partitions before (one
    small count per partition): no single partition for all, and no Python on the
    executors. ``cache=False`` for rows read from a file
    with no shuffle on the way (each reading gives the same partitions in the same order):
    the rows are then numbered again wherever they are read, not kept."""
    from pyspark.sql import functions as F

    tagged = (df.withColumn("_pid", F.spark_partition_id())
              .withColumn("_mid", F.monotonically_increasing_id()))
    tagged = tagged.cache() if cache else tagged
    found = tagged.groupBy("_pid").agg(F.count(F.lit(1)).alias("count"),
                                       (flagged if flagged is not None
                                        else F.lit(0)).alias("flagged")).collect()
    counts = {int(r["_pid"]): int(r["count"]) for r in found}
    offsets, total = [], 0
    for pid in sorted(counts):
        offsets += [F.lit(pid), F.lit(total)]
        total += counts[pid]
    offset = F.create_map(*offsets)[F.col("_pid")] if offsets else F.lit(0).cast("long")
    number = (F.col("_mid") - F.col("_pid").cast("long") * F.lit(1 << 33) + offset)
    return (tagged.select(number.cast("long").alias(name), *df.columns), total,
            sum(int(r["flagged"] or 0) for r in found))


def _np(column: pa.ChunkedArray) -> Ints:
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _big(column: pa.ChunkedArray) -> Amounts:
    """Decimal digits → Python ints (amounts beyond int64: wei)."""
    out = np.empty(len(column), dtype=object)
    out[:] = [int(v) for v in column.to_pylist()]
    return out
