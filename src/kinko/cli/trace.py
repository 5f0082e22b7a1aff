"""``kinko trace run|export|synth`` and ``kinko tags import|list``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import typer

from kinko.chains import tracefiles
from kinko.cli.app import app
from kinko.cli.runtime import Runtime, cli_actor, emit, format_option, runtime, speech, word
from kinko.domain.addresses import same_token
from kinko.domain.labels import has_category, tag_index
from kinko.domain.messages import N_, Units, msg
from kinko.domain.money import Asset, format_units
from kinko.domain.screening import Label
from kinko.domain.trace.model import AccountSeeds, AccountTransfers
from kinko.errors import BadInput, ConfigError, KinkoError
from kinko.ports import SystemClock
from kinko.render.trace import TABLES, tainted, warm_picture, write_blacklist, write_trace
from kinko.services.artifacts import Artifacts
from kinko.services.incidents import Incidents
from kinko.services.labels import load_label_files, read_labels, tags
from kinko.services.timeline import record
from kinko.services.trace import (
    TraceReport,
    account_transfers,
    parse_seed_address,
    run_trace,
    run_trace_on,
    run_utxo_trace,
)

trace_app = typer.Typer(help="Trace stolen funds: taint per address, exposure, blacklists.",
                        no_args_is_help=True)
tags_app = typer.Typer(help="Attribution tags (TagPacks): who addresses belong to.",
                       no_args_is_help=True)
app.add_typer(trace_app, name="trace")
app.add_typer(tags_app, name="tags")

FORMATS = ("csv", "parquet", "ethereum-etl", "mftracer", "nem", "utxo-jsonl")
ENGINES = ("duckdb", "spark")


@trace_app.command("run")
def trace_run(
    ctx: typer.Context,
    transfers: Path = typer.Option(None, "--transfers", help="File (or ethereum-etl folder) "
                                   "of transfers."),
    fmt: str = typer.Option("csv", "--format", help=f"One of {', '.join(FORMATS)}."),
    policy: str = typer.Option(..., "--policy", help="poison, haircut, fifo, lifo or tiho."),
    seed_tx: list[str] = typer.Option([], "--seed-tx", help="A stolen transaction (repeat)."),
    seed_address: list[str] = typer.Option(
        [], "--seed-address", help="ADDR[@BLOCK][=AMOUNT]: taint held from BLOCK on (repeat)."),
    tag_files: list[Path] = typer.Option([], "--tags", help="TagPack or CSV labels (repeat); "
                                         "the database's tags are used too."),
    stop_category: list[str] = typer.Option(
        [], "--stop-category", help="Label categories that absorb taint (default: exchange)."),
    max_hops: int = typer.Option(None, "--max-hops", help="Stop spreading after N hops."),
    min_taint: int = typer.Option(0, "--min-taint", help="Leave addresses with less taint "
                                  "(minor units) out of the addresses table."),
    chain_name: str = typer.Option(None, "--chain", help="Read a live chain instead: evm."),
    from_block: int = typer.Option(None, "--from-block",
                                   help="With --chain: the first block to read."),
    to_block: int = typer.Option(None, "--to-block",
                                 help="With --chain: the last block to read (included)."),
    asset: str = typer.Option(None, "--asset", "--token", help="The asset to follow: with "
                              "--chain a symbol (a token's Transfer events, or the chain's "
                              "coin); with a file the value of its asset column, or the token "
                              "contract of an ethereum-etl token_transfers.csv (a symbol "
                              "configured with a token contract works too)."),
    out: Path = typer.Option(..., "--out", help="Folder for the trace's files."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (this machine) or spark: "
                               "read, check, number and reduce the transfers on a Spark "
                               "cluster, then run the kernel here on what a trace can reach."),
    spark_master: str = typer.Option(None, "--spark-master", help="With --engine spark: the "
                                     "cluster (spark://host:7077, yarn, k8s://...); default "
                                     "local[2], on this machine."),
    spark_memory: str = typer.Option(None, "--spark-memory", help="With --engine spark: the "
                                     "driver's memory, e.g. 8g (default: a third of this "
                                     "machine's memory in local mode, where the driver does "
                                     "the executors' work; 4g on a cluster)."),
    tables: str = typer.Option("parquet", "--tables", help="parquet (default) or csv: the "
                               "format of the per-address and per-transfer tables "
                               "(addresses, flows), which can be large."),
    incident: str = typer.Option(None, "--incident", help="Add the trace to this incident's "
                                 "timeline."),
    lang: str = typer.Option(None, "--lang", help="ja or en: the language of the flow graph "
                             "(graph.html, graph.png); default: the lang setting when set, "
                             "else ja."),
) -> None:
    """Trace the seeds through the transfers; write addresses, flows, exposure, summary and
    the flow graph to --out."""
    rt = runtime(ctx)
    lang = rt.lang_for(lang, document=True)
    if incident is not None:  # refused before the trace runs (hours, on a chain's export)
        Incidents(rt.ledger().store, SystemClock()).incident(incident)
    unit = _unit(rt, asset, chain_name)  # the asset the amounts are said in, when known
    if fmt not in FORMATS:
        raise BadInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}",
                       says=msg("error.cli.format", formats=", ".join(FORMATS),
                                format=repr(fmt[:80])))
    if engine not in ENGINES:
        raise BadInput(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}",
                       says=msg("error.trace.engine", engines=", ".join(ENGINES),
                                engine=repr(engine[:80])))
    if engine == "spark" and chain_name is not None:
        raise BadInput("--engine spark reads files (--transfers), not --chain",
                       says=msg("error.trace.spark_not_chain"))
    if tables not in TABLES:
        raise BadInput(f"--tables must be one of {', '.join(TABLES)}, not {tables!r}",
                       says=msg("error.trace.tables", choices=", ".join(TABLES),
                                tables=repr(tables[:80])))
    labels = _labels(ctx, tag_files)
    store: tracefiles.TxHashStore | None = None
    if chain_name is not None:
        data = _from_chain(ctx, chain_name, from_block, to_block, asset)
    elif transfers is None:
        raise BadInput("give --transfers FILE, or --chain evm --from-block A --to-block B",
                       says=msg("error.trace.no_transfers"))
    elif fmt == "utxo-jsonl":
        report = _utxo(transfers, policy, seed_tx, out, min_taint, labels, stop_category,
                       max_hops, seed_address, tables, lang)
        _show(rt, report)
        _written(out, tables)
        return
    elif engine == "spark":
        if fmt not in ("csv", "parquet"):
            raise BadInput(f"--engine spark reads the csv and parquet formats, not {fmt!r}",
                           says=msg("error.trace.spark_format", format=repr(fmt[:80])))
        from kinko.chains.tracefiles.spark import SparkTransfers, spark_failures

        with spark_failures():
            source = SparkTransfers(transfers, fmt, asset=_file_asset(ctx, asset, fmt),
                                    master=spark_master, memory=spark_memory)
            report = run_trace_on(source, policy=policy,
                                  seed_txs=seed_tx,
                                  seed_addresses=[parse_seed_address(s) for s in seed_address],
                                  labels=labels, stop_categories=stop_category or ("exchange",),
                                  max_hops=max_hops)
            write_trace(report, out, min_taint=min_taint, tables=tables, unit=unit,
                        lang=lang)
        if incident is not None:  # recorded before anything is printed (a closed pipe)
            _on_incident(ctx, incident, report, out, None if unit is None else unit.symbol)
        _show(rt, report, unit)
        _written(out, tables)
        return
    else:
        # the hashes stay in a file (no Python string per transfer: chain-sized files fit
        # in memory); the seed transactions are found while it is read, the flows' hashes
        # are looked up there
        data, store = tracefiles.load_account_lazy(
            transfers, fmt, asset=_file_asset(ctx, asset, fmt),
            find=[h.strip().lower() for h in seed_tx])
    picture = warm_picture(lang)  # matplotlib loads while the kernel runs
    try:
        report = run_trace(data, policy=policy, seed_txs=seed_tx,  # type: ignore[arg-type]
                           seed_addresses=[parse_seed_address(s) for s in seed_address],
                           labels=labels, stop_categories=stop_category or ("exchange",),
                           max_hops=max_hops, reduce=_reduce,
                           find_txs=None if store is None else store.positions,
                           hashes_of=None if store is None else store.at_arrow)
    finally:
        picture.join()
    try:
        write_trace(report, out, min_taint=min_taint, tables=tables, unit=unit, lang=lang)
    finally:
        if store is not None:
            store.close()
    if incident is not None:  # recorded before anything is printed (a closed pipe)
        _on_incident(ctx, incident, report, out, None if unit is None else unit.symbol)
    _show(rt, report, unit)
    _written(out, tables)


def _unit(rt: Runtime, asset: str | None, chain_name: str | None) -> Asset | None:
    """The asset traced, when kinko knows it: the one ``--asset`` names, or the chain's
    coin; a file's unnamed asset stays in base units."""
    symbol = asset.strip().upper() if asset else ("ETH" if chain_name is not None else None)
    return rt.assets[symbol] if symbol and symbol in rt.assets else None


def _written(out: Path, tables: str) -> None:
    print(speech()("cli.trace.written", folder=str(out),
                   files=f"addresses.{tables}, flows.{tables}, exposure.csv, summary.json, "
                         "graph.json, graph.html, graph.png"))


def _file_asset(ctx: typer.Context, asset: str | None, fmt: str) -> str | None:
    """What ``--asset`` chooses in a file: in an ethereum-etl export (whose transfers name
    their token by its contract) a configured symbol's token contract; else the value as
    given, the value of the file's asset column (``XEM`` in a column that says ``XEM``)."""
    if asset is None or fmt != "ethereum-etl":
        return asset
    registry = runtime(ctx).assets
    symbol = asset.strip().upper()
    if symbol in set(registry):
        token = registry[symbol].token
        if token:
            return token
    return asset


def _on_incident(ctx: typer.Context, incident: str, report: TraceReport, out: Path,
                 asset: str | None = None) -> None:
    """The trace on the incident's timeline, and in the artifacts index (so the dashboard
    lists it with the incident's other traces)."""
    rt = runtime(ctx)
    store = rt.ledger().store
    view = Incidents(store, SystemClock()).incident(incident)  # refuses an unknown one
    if asset is None:  # a file of one unnamed asset: the incident's, as the FSA report reads it
        asset = view.incident["asset"]
    summary = report.summary()
    totals = summary["totals"]
    artifact = Artifacts(store, SystemClock()).record(
        "trace", msg("artifact.trace.incident", policy=msg(f"tr.policy.{report.policy}"),
                     incident=incident), out, by="kinko trace",
        incident=incident, detail={"policy": report.policy, "asset": asset,
                                   "source": "kinko trace run", "totals": totals,
                                   "conservation": summary["conservation"],
                                   "seeds": summary["seeds"].get("transactions", [])})
    known = rt.assets[asset] if asset is not None and asset in rt.assets else None

    def units(value: int) -> Units | int:
        return value if known is None else Units(value, known.symbol, known.decimals)

    top = ", ".join(e.entity for e in report.exposure[:5])
    record(store, incident, SystemClock().now(), "trace", "kinko trace", msg(
        N_("timeline.trace.done") if top else N_("timeline.trace.done_none"),
        policy=msg(f"tr.policy.{report.policy}"), trace=str(artifact["id"]),
        seeded=units(int(totals["seeded"])), absorbed=units(int(totals["absorbed"])),
        exchanges=top))


def _reduce(transfers: AccountTransfers, seeds: AccountSeeds, stops: np.ndarray
            ) -> tuple[AccountTransfers, AccountSeeds, np.ndarray | None]:
    """The time-respecting reachability of the seeds, before the kernel."""
    reduced, kept = tracefiles.reduce_reachable(transfers, seeds.transfers, seeds.addresses,
                                                stops)
    return reduced, tracefiles.reduce_seeds(seeds, kept), kept


def _labels(ctx: typer.Context, files: list[Path]) -> dict[str, tuple[Label, ...]]:
    """Every tag of the database and of the files, by address (an address keeps them all)."""
    rt = runtime(ctx)
    found: list[Label] = []
    store = None
    database = rt.settings.database_url
    if not database.startswith("sqlite:///") or Path(database[len("sqlite:///"):]).exists():
        with contextlib.suppress(KinkoError):  # no database set up: the files alone
            store = rt.ledger().store
            found.extend(t for each in tags(store).values() for t in each)
    for path in files:  # a currency that is one of the exchange's assets takes its chain
        found.extend(read_labels(path, invalid=rt.settings.list_invalid_addresses,
                                 store=store).labels)
    return tag_index(found)


def _from_chain(ctx: typer.Context, name: str, first: int | None, last: int | None,
                asset: str | None) -> AccountTransfers:
    rt = runtime(ctx)
    if name != "evm":
        raise BadInput(f"--chain must be evm, not {name!r}",
                       says=msg("error.trace.chain_not_evm", chain=repr(name[:80])))
    chain = rt.chain()
    if chain is None:
        raise ConfigError("--chain evm needs a node: set KINKO_EVM_RPC_URL",
                          says=msg("error.trace.chain_needs_node"))
    if first is None or last is None or first > last:
        raise BadInput("--chain needs --from-block A --to-block B with A ≤ B",
                       says=msg("error.trace.chain_blocks"))
    symbol = asset or "ETH"
    known = rt.assets[symbol]
    records = [t for n in range(first, last + 1) for t in chain.block(n).transfers
               if same_token(t.token, known.token, known.chain) and t.value > 0]
    return account_transfers(records)


def _utxo(path: Path, policy: str, seed_tx: list[str], out: Path, min_taint: int,
          labels: dict[str, tuple[Label, ...]], stop_category: list[str],
          max_hops: int | None, seed_address: list[str], tables: str, lang: str
          ) -> TraceReport:
    report = run_utxo_trace(tracefiles.load_utxo(path), policy=policy,  # type: ignore[arg-type]
                            seed_txs=seed_tx,
                            seed_addresses=[parse_seed_address(s) for s in seed_address],
                            labels=labels, stop_categories=stop_category or ("exchange",),
                            max_hops=max_hops)
    write_trace(report, out, min_taint=min_taint, tables=tables, lang=lang)
    return report


def _show(rt: object, report: TraceReport, unit: Asset | None = None) -> None:
    """The trace's counts, totals and exposure: amounts in whole units of ``unit`` (the
    asset ``--asset`` names, or the chain's coin), as the graph says them; else, a file's
    unnamed asset, in its minor units."""
    say = speech()

    def amount(value: object) -> str:
        if unit is None:
            return str(value)
        return f"{format_units(int(str(value)), unit, group=True)} {unit.symbol}"
    s = report.summary()
    totals = s["totals"]
    counts = s["counts"]
    print(say("cli.trace.counts", policy=word(say, "tr.policy", report.policy),
              transfers=f"{counts['transfers']:,}",
              addresses=f"{counts['tainted_addresses']:,}",
              tainted=f"{counts['tainted_transfers']:,}"))
    holds = s["conservation"]["holds"]
    conservation = (say("cli.trace.not_applicable") if holds is None else
                    say("cli.trace.holds") if holds else
                    say("cli.trace.fails", difference=str(s["conservation"]["difference"])))
    # taint the trace stopped following at --max-hops reached no stop: said apart, never
    # as absorbed at stops
    at_hop_limit = int(totals.get("at_hop_limit", 0))
    figures = {"seeded": amount(totals["seeded"]), "held": amount(totals["held"]),
               "burned": amount(totals["burned"]), "absorbed": amount(totals["absorbed"]),
               "conservation": conservation}
    print(say("cli.trace.totals_hop_limit", **figures, at_hop_limit=amount(at_hop_limit))
          if at_hop_limit else say("cli.trace.totals", **figures))
    emit(["entity", "category", "taint received", "addresses"],
         [[e.entity, word(say, "label.category", e.category), amount(e.taint), e.addresses]
          for e in report.exposure[:20]],
         "table", title=say("cli.trace.exposure"), right=("taint received",))


@trace_app.command("export")
def trace_export(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="A trace's output folder."),
    fmt: str = typer.Option("tagpack", "--format", help="tagpack, csv or nem-mosaic-tags."),
    min_taint: int = typer.Option(1, "--min-taint", help="Only addresses holding or having "
                                  "received at least this taint (minor units)."),
    currency: str = typer.Option("ETH", "--currency", help="The TagPack's currency."),
    out: Path = typer.Option(None, "--out", help="File to write (default: blacklist.yaml or "
                             "blacklist.csv in the folder); for nem-mosaic-tags a folder "
                             "(default: nem-mosaic-tags in the trace's folder)."),
    mosaic: str = typer.Option(None, "--mosaic", help="nem-mosaic-tags: the tag mosaic, "
                               "namespace:name."),
    signer: Path = typer.Option(None, "--signer", help="nem-mosaic-tags: the file of the "
                                "private key of the account that holds the tag mosaic."),
    chain_name: str = typer.Option("nem", "--chain", help="nem-mosaic-tags: nem or "
                                   "nem-testnet."),
    node: str = typer.Option(None, "--node", help="nem-mosaic-tags: a NIS1 node to read "
                             "the mosaic's definition and the signer's holdings from "
                             "(nothing is announced)."),
    supply: int = typer.Option(None, "--supply", help="nem-mosaic-tags without --node: the "
                               "mosaic's supply."),
    divisibility: int = typer.Option(None, "--divisibility", help="nem-mosaic-tags without "
                                     "--node: the mosaic's divisibility."),
    deadline_hours: int = typer.Option(23, "--deadline-hours", help="nem-mosaic-tags: hours "
                                       "the transfers may be announced in (1 to 24)."),
    message: str = typer.Option("", "--message", help="nem-mosaic-tags: a plain message "
                                "carried by each transfer."),
) -> None:
    """A blacklist of the tainted addresses (never the stops: those are exchanges) that
    `kinko denylist load` and other exchanges' tools read; or, with nem-mosaic-tags, a
    signed NEM transfer of one unit of a tag mosaic to each tainted account, with a
    manifest (written, never announced)."""
    if fmt == "nem-mosaic-tags":
        _mosaic_tags(folder, out, min_taint=min_taint, mosaic=mosaic, signer=signer,
                     chain=chain_name, node=node, supply=supply, divisibility=divisibility,
                     deadline_hours=deadline_hours, message=message)
        return
    if fmt not in ("tagpack", "csv"):
        raise BadInput(f"--format must be tagpack, csv or nem-mosaic-tags, not {fmt!r}",
                       says=msg("error.trace.export_format", format=repr(fmt[:80])))
    target, count = write_blacklist(folder, fmt, min_taint=min_taint, currency=currency,
                                    out=out, assets=runtime(ctx).assets)
    print(speech()("cli.trace.blacklist", count=str(count), path=str(target)))


def _mosaic_tags(folder: Path, out: Path | None, *, min_taint: int, mosaic: str | None,
                 signer: Path | None, chain: str, node: str | None, supply: int | None,
                 divisibility: int | None, deadline_hours: int, message: str) -> None:
    from datetime import UTC, datetime, timedelta

    from kinko.chains.nem import NemKey
    from kinko.chains.nem_tags import write_mosaic_tags
    from kinko.chains.nis1 import NisChain
    from kinko.chains.retry import Retrying
    from kinko.domain.nem import mosaic_id

    if mosaic is None or signer is None:
        raise BadInput("--format nem-mosaic-tags needs --mosaic NS:NAME and --signer KEYFILE",
                       says=msg("error.trace.mosaic_needs"))
    tag = mosaic_id(mosaic)
    key = NemKey.from_file(signer, chain)
    holdings = None
    if node is not None:
        nis = NisChain(node, name=chain)
        supply, divisibility = nis.mosaic_definition(tag)
        retried = Retrying(nis, attempts=3)
        holdings = (retried.balances([key.address], token=tag)[key.address],
                    retried.balances([key.address])[key.address])
    elif supply is None or divisibility is None:
        raise BadInput("give --node URL (the mosaic's definition is read from it) or the "
                       "mosaic's --supply and --divisibility",
                       says=msg("error.trace.mosaic_definition"))
    listed, summary = tainted(folder, min_taint=min_taint)
    target = out or folder / "nem-mosaic-tags"
    manifest = write_mosaic_tags(
        [r["address"] for r in listed], target, chain=chain, mosaic=tag, key=key,
        supply=supply, divisibility=divisibility, at=datetime.now(UTC),
        deadline=timedelta(hours=deadline_hours), message=message, holdings=holdings,
        source={"trace": str(folder), "policy": summary.get("policy"),
                "seeds": summary.get("seeds"), "min_taint": min_taint})
    print(speech()("cli.trace.mosaic_tags", count=str(manifest["count"]), tag=tag,
                   sender=key.address, path=str(target), deadline=manifest["deadline_utc"]))


@trace_app.command("synth")
def trace_synth(
    transfers: int = typer.Option(..., "--transfers", help="How many transfers."),
    addresses: int = typer.Option(..., "--addresses", help="How many addresses."),
    seed: int = typer.Option(2018, "--seed", help="Random seed (same seed and counts, same "
                             "chain)."),
    out: Path = typer.Option(..., "--out", help="Parquet file to write."),
) -> None:
    """A reproducible synthetic chain with heavy-tailed activity (for benchmarks)."""
    if transfers < 1 or addresses < 2:
        raise BadInput("--transfers must be ≥ 1 and --addresses ≥ 2",
                       says=msg("error.trace.synth_counts"))
    if addresses > tracefiles.SYNTH_ADDRESSES_MAX:
        raise BadInput(f"--addresses must be at most {tracefiles.SYNTH_ADDRESSES_MAX:,} (the "
                       f"synthetic chain numbers its addresses in 32 bits), not {addresses}",
                       says=msg("error.trace.synth_addresses",
                                most=f"{tracefiles.SYNTH_ADDRESSES_MAX:,}",
                                addresses=str(addresses)[:80]))
    if seed < 0:
        raise BadInput(f"--seed must be 0 or more, not {seed}",
                       says=msg("error.trace.synth_seed", seed=str(seed)[:80]))
    tracefiles.write_synth_parquet(out, transfers, addresses, seed)  # streamed, not held
    print(speech()("cli.trace.synth", transfers=f"{transfers:,}",
                   addresses=f"{addresses:,}", path=str(out)))


@tags_app.command("import")
def tags_import(ctx: typer.Context, files: list[Path] = typer.Argument(...),
                by: str = typer.Option(None, "--by", help="Who loads them (recorded in the "
                                       "audit log).")) -> None:
    """Load TagPacks (or CSV label lists) as attribution tags."""
    ledger = runtime(ctx).ledger()
    # every file checked before any is written: one refused, none loaded
    every = load_label_files(ledger.store, list(files), "tags",
                             invalid=runtime(ctx).settings.list_invalid_addresses,
                             actor=cli_actor(by),
                             clock=ledger.clock)
    for path, loaded in zip(files, every, strict=True):
        for kept in loaded.kept:
            print(kept)
        print(runtime(ctx).say("cli.tags.imported", file=str(path), read=str(loaded.read),
                               new=str(loaded.new)))


@tags_app.command("list")
def tags_list(ctx: typer.Context,
              category: str = typer.Option(None, "--category", help="Only tags of this "
                                           "category or concept (e.g. exchange, hacker; "
                                           "any case)."),
              fmt: str = format_option()) -> None:
    """Tags in the database."""
    found = tags(runtime(ctx).ledger().store)
    emit(["address", "label", "category", "actor", "source"],
         [[a, t.label, t.category, t.actor, t.source] for a, each in sorted(found.items())
          for t in each if category is None or has_category([t], [category])], fmt)
