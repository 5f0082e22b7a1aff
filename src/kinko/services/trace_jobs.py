"""Traces started by an operator (the dashboard): seeds from an incident's thefts, transfers
from the chain node or from a file in the data folder, the trace run in the background.

An incident's theft alerts carry the stolen transactions (``tx_hash``), their asset and
block; :meth:`TraceJobs.seeds` gathers them so the form comes prefilled. :meth:`TraceJobs.start`
checks the request at once (seeds, policy, asset, where the transfers come from: a file
must lie under the data folder), indexes a ``trace`` artifact in state ``running`` with its
folder ``<data_dir>/traces/<artifact id>/``, and returns while a thread reads the transfers
(a token's Transfer events, or the coin's transactions, from the first theft block to the
chain's head; or the file), runs :func:`~kinko.services.trace.run_trace` with the
database's tags as labels, writes the files and marks the artifact ``done`` with its
totals (or ``failed`` with the reason). The incident's timeline gets a line either way::

    jobs = TraceJobs(store, clock, data_dir, chain=chain, assets=assets, load=..., write=...)
    a = jobs.start(TraceRequest(("0xabc…",), incident="INC-1"), by="ops")
    jobs.wait(a["id"])   # tests; the dashboard's page refreshes itself instead

Files and chains are read, and files written, by functions given to the constructor (the
API layer passes :mod:`kinko.chains.tracefiles` and :mod:`kinko.render.trace`): services do
not import those layers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kinko.domain.addresses import same_token
from kinko.domain.messages import N_, Message, Units, id_shown, msg, rewritten
from kinko.domain.money import Asset
from kinko.domain.trace.model import ACCOUNT_POLICIES, AccountTransfers, Policy
from kinko.errors import BadInput, KinkoError, Throttled
from kinko.ports import Chain, Clock, Store
from kinko.services.artifacts import Artifacts
from kinko.services.labels import tags
from kinko.services.timeline import record
from kinko.services.trace import TraceReport, account_transfers, run_trace

__all__ = ["MAX_BLOCKS", "MAX_RUNNING", "POLICIES", "IncidentSeeds", "TraceJobs",
           "TraceRequest"]

log = logging.getLogger(__name__)

# what the dashboard offers: the account policies, haircut (its default) first
POLICIES: tuple[Policy, ...] = tuple(sorted(ACCOUNT_POLICIES, key=lambda p: p != "haircut"))
MAX_BLOCKS = 100_000  # more than this from a node: give a transfers file instead
MAX_RUNNING = 2
"""Traces one process runs at once: each holds its transfers in memory and takes a core; a
start beyond it is refused (429) until one ends, not queued behind the others."""
_STARTING = threading.Lock()  # the count of running jobs and a start, one request at a time
FILE_FORMATS = ("csv", "parquet", "ethereum-etl", "mftracer", "nem")

Loader = Callable[[Path, str], AccountTransfers]
"""Reads a transfers file in a format of :mod:`kinko.chains.tracefiles`."""
Writer = Callable[[TraceReport, Path, Asset | None, str], None]
"""Writes a trace's files (and its blacklist) into a folder; its words (the flow graph's) in
the language given."""


@dataclass(frozen=True)
class TraceRequest:
    seed_txs: tuple[str, ...]
    policy: str = "haircut"
    incident: str | None = None
    asset: str | None = None  # the asset followed on the chain (default: the thefts')
    transfers: str | None = None  # a file under the data folder, instead of the node
    fmt: str = "csv"
    from_block: int | None = None  # default: the first theft's block
    stop_categories: tuple[str, ...] = ("exchange",)  # label categories that absorb taint
    max_hops: int | None = None  # stop spreading after this many hops
    lang: str = "en"  # the flow graph's words: the language of who started it


@dataclass(frozen=True)
class IncidentSeeds:
    """What an incident's theft alerts say about the stolen transactions."""

    incident: str
    title: Message
    tx_hashes: tuple[str, ...]
    asset: str | None
    first_block: int | None


class TraceJobs:
    def __init__(self, store: Store, clock: Clock, data_dir: Path, *, chain: Chain | None,
                 assets: Mapping[str, Asset], load: Loader, write: Writer) -> None:
        self.store = store
        self.clock = clock
        self.data_dir = data_dir
        self.chain = chain
        self.assets = assets
        self.load = load
        self.write = write
        self.threads: dict[str, threading.Thread] = {}

    # ------------------------------------------------------------------ seeds

    def seeds(self, incident_id: str) -> IncidentSeeds:
        """The incident's theft transactions (in block order), their asset, the first block."""
        with self.store.watch(write=False) as tables:
            row = tables.incident(incident_id)
            if row is None:
                shown = id_shown(incident_id)
                raise BadInput(f"unknown incident {shown!r}", incident=shown,
                               says=msg("error.unknown_incident", id=shown))
            alerts = tables.alerts(incident=incident_id, kind="theft", limit=None)
        thefts = sorted((a for a in alerts if a.get("tx_hash")),
                        key=lambda a: (a["block"] is None, a["block"] or 0, a["id"]))
        hashes = tuple(dict.fromkeys(str(a["tx_hash"]).lower() for a in thefts))
        assets = {a["asset"] for a in thefts if a.get("asset")}
        blocks = [a["block"] for a in thefts if a["block"] is not None]
        asset = next(iter(assets)) if len(assets) == 1 else row.get("asset")
        return IncidentSeeds(incident_id, row["title"], hashes, asset,
                             min(blocks) if blocks else None)

    # ------------------------------------------------------------------ start

    def check(self, request: TraceRequest) -> TraceRequest:
        """The request made whole (asset and first block from the incident), or BadInput
        saying what is wrong; nothing is written."""
        seeds = tuple(dict.fromkeys(h.strip().lower() for h in request.seed_txs if h.strip()))
        if not seeds:
            raise BadInput("give at least one stolen transaction (one hash a line)",
                           says=msg("error.trace.no_seed"))
        bad = [h for h in seeds if len(h) > 200 or not h.isprintable() or " " in h]
        if bad:
            raise BadInput(f"{bad[0]!r} is not a transaction hash",
                           says=msg("error.trace.not_a_hash", text=bad[0][:80]))
        if request.policy not in POLICIES:
            raise BadInput(f"the policy must be one of {', '.join(POLICIES)}, not "
                           f"{request.policy!r}", says=msg("error.trace.policy",
                                                           policy=request.policy[:40]))
        found = self.seeds(request.incident) if request.incident else None
        asset = request.asset or (found.asset if found else None)
        if asset is not None and asset not in self.assets:
            raise BadInput(f"unknown asset {asset!r}", asset=asset,
                           says=msg("error.trace.unknown_asset", asset=asset[:40]))
        if request.max_hops is not None and request.max_hops < 1:
            raise BadInput("the hop limit must be at least 1",
                           says=msg("error.trace.hops"))
        checked = replace(request, seed_txs=seeds, asset=asset)
        if request.transfers:
            if request.fmt not in FILE_FORMATS:
                raise BadInput(f"the file format must be one of {', '.join(FILE_FORMATS)}, "
                               f"not {request.fmt!r}", says=msg(
                                   "error.trace.format", format=request.fmt[:40],
                                   formats=", ".join(FILE_FORMATS)))
            return replace(checked, transfers=str(self.transfers_file(request.transfers)))
        if self.chain is None:
            raise BadInput("no chain node is configured (set KINKO_EVM_RPC_URL) and no "
                           "transfers file was given: give a file under the data folder",
                           says=msg("error.trace.no_node"))
        if asset is None:
            raise BadInput("say which asset to follow on the chain",
                           says=msg("error.trace.no_asset"))
        if self.assets[asset].chain != self.chain.name:
            raise BadInput(f"{asset} is not on the node's chain ({self.chain.name})",
                           says=msg("error.trace.other_chain", asset=asset,
                                    chain=self.chain.name))
        first = request.from_block
        if first is None and found is not None:
            first = found.first_block
        if first is None:
            raise BadInput("say from which block to read the chain (the incident's thefts "
                           "carry no block)", says=msg("error.trace.no_block"))
        if first < 0:
            raise BadInput("the first block cannot be negative",
                           says=msg("error.trace.negative_block"))
        return replace(checked, from_block=first)

    def transfers_file(self, name: str) -> Path:
        """A transfers file: only under the data folder (a relative name is taken there)."""
        root = self.data_dir.resolve()
        path = Path(name)
        try:
            path = (path if path.is_absolute() else root / path).resolve()
            inside = path.is_relative_to(root)
            found = inside and path.exists()  # a file, or a folder of NEM listings
        except OSError:  # a name the file system refuses (too long, ...): no such file
            inside, found = True, False
        if not inside:
            raise BadInput(f"the transfers file must lie under the data folder ({root})",
                           says=msg("error.trace.outside"))
        if not found:
            raise BadInput(f"no transfers file {name!r} under the data folder",
                           says=msg("error.trace.no_file", file=name[:200]))
        return path

    def start(self, request: TraceRequest, *, by: str) -> dict[str, Any]:
        """Check the request, index the artifact (running) and trace in a thread."""
        request = self.check(request)
        source = (f"file {Path(request.transfers).name} ({request.fmt})" if request.transfers
                  else f"{self.chain.name if self.chain else 'chain'} from block "
                  f"{request.from_block}")
        said = (msg("tr.source.file", file=Path(request.transfers).name, format=request.fmt)
                if request.transfers else
                msg("tr.source.chain", chain=self.chain.name if self.chain else "—",
                    block=str(request.from_block)))
        policy = msg(f"tr.policy.{request.policy}")
        title = (msg("artifact.trace.incident", policy=policy, incident=request.incident)
                 if request.incident else msg("artifact.trace", policy=policy))
        artifacts = Artifacts(self.store, self.clock)
        traces = self.data_dir / "traces"
        with _STARTING:
            # the jobs that ended are forgotten (``wait`` takes a job it does not know of
            # as ended); those still running are counted
            for ended in [i for i, t in self.threads.items() if not t.is_alive()]:
                del self.threads[ended]
            if len(self.threads) >= MAX_RUNNING:
                raise Throttled(f"{len(self.threads)} traces are running already (at most "
                                f"{MAX_RUNNING} at once): start this one when one of them "
                                "has ended", 30, says=msg("error.trace.busy",
                                                          running=len(self.threads),
                                                          most=MAX_RUNNING))
            artifact = artifacts.start_in(
                "trace", title, traces, by=by, incident=request.incident,
                detail={"policy": request.policy, "asset": request.asset, "source": source,
                        "source_message": said.to_data(),
                        "seeds": list(request.seed_txs)})
            folder = artifact["folder"]
            thread = threading.Thread(target=self.run,
                                      args=(artifact["id"], folder, request, by),
                                      name=f"kinko {artifact['id']}", daemon=True)
            self.threads[artifact["id"]] = thread
            thread.start()
        return artifact

    def wait(self, artifact_id: str, timeout: float = 60.0) -> bool:
        """Wait for a job started here; True when it has ended."""
        thread = self.threads.get(artifact_id)
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # ------------------------------------------------------------------ the job

    def run(self, artifact_id: str, folder: Path, request: TraceRequest, by: str) -> None:
        """The job's body: never raises (a failure is the artifact's state and reason)."""
        artifacts = Artifacts(self.store, self.clock)
        try:
            report = self._trace(request)
            asset = self.assets[request.asset] if request.asset else None
            self.write(report, folder, asset, request.lang)
        except KinkoError as exc:
            self._failed(artifact_id, request, by, exc.message, exc.said())
            return
        except Exception as exc:  # a bug or a broken node: say so on the page, keep serving
            log.exception("trace %s failed", artifact_id)
            text = f"{type(exc).__name__}: {exc}"
            self._failed(artifact_id, request, by, text,
                         Message("error.unexpected", (("detail", text),)))
            return
        summary = report.summary()
        totals = summary["totals"]
        exposure = [{"entity": e.entity, "category": e.category, "taint": str(e.taint),
                     "addresses": e.addresses} for e in report.exposure]
        artifacts.finish(artifact_id, {
            "totals": {k: str(v) for k, v in totals.items()},
            "conservation": summary["conservation"], "counts": summary["counts"],
            "exposure": exposure[:20]})
        if request.incident:
            asset = self.assets.get(request.asset) if request.asset else None

            def units(value: int) -> Units | int:
                return value if asset is None else Units(value, asset.symbol, asset.decimals)

            top = ", ".join(e.entity for e in report.exposure[:5])
            record(self.store, request.incident, self.clock.now(), "trace", by, msg(
                N_("timeline.trace.done") if top else N_("timeline.trace.done_none"),
                policy=msg(f"tr.policy.{request.policy}"), trace=artifact_id,
                seeded=units(int(totals["seeded"])), absorbed=units(int(totals["absorbed"])),
                exchanges=top))

    def _failed(self, artifact_id: str, request: TraceRequest, by: str, reason: str,
                said: Message) -> None:
        """The job's failure on its artifact (English and as a message) and, as a message,
        on its incident's timeline: a file named as the form named it, under the data
        folder (the server's own folders are not the reader's business)."""
        root = str(self.data_dir.resolve())

        def under(text: str) -> str:
            return text.replace(root + os.sep, "").replace(root, ".")

        reason, said = under(reason), rewritten(said, under)
        Artifacts(self.store, self.clock).fail(artifact_id, reason, said)
        if request.incident:
            record(self.store, request.incident, self.clock.now(), "trace", by, msg(
                "timeline.trace.failed", policy=msg(f"tr.policy.{request.policy}"),
                trace=artifact_id, reason=said))

    def _trace(self, request: TraceRequest) -> TraceReport:
        if request.transfers:
            data = self.load(Path(request.transfers), request.fmt)
        else:
            data = self._from_chain(request)
        return run_trace(data, policy=request.policy,  # type: ignore[arg-type]
                         seed_txs=request.seed_txs, labels=tags(self.store),
                         stop_categories=request.stop_categories or ("exchange",),
                         max_hops=request.max_hops)

    def _from_chain(self, request: TraceRequest) -> AccountTransfers:
        chain = self.chain
        assert chain is not None and request.asset is not None
        assert request.from_block is not None
        head = chain.head()
        if request.from_block > head:
            raise BadInput(f"block {request.from_block} is beyond the chain's head ({head})",
                           says=msg("error.trace.beyond_head", block=str(request.from_block),
                                    head=str(head)))
        if head - request.from_block + 1 > MAX_BLOCKS:
            raise BadInput(f"{head - request.from_block + 1:,} blocks to read from the node "
                           f"(at most {MAX_BLOCKS:,}): export the transfers to a file under "
                           "the data folder instead", says=msg(
                               "error.trace.too_many_blocks",
                               blocks=head - request.from_block + 1, most=MAX_BLOCKS))
        asset = self.assets[request.asset]
        records = [t for n in range(request.from_block, head + 1)
                   for t in chain.block(n).transfers
                   if same_token(t.token, asset.token, asset.chain) and t.value > 0]
        return account_transfers(records)
