"""The trace pages: start a trace from an incident's thefts, watch it run, see where the
coins went (the flow graph, the exposure per exchange) and download its files and the
TagPack blacklist other exchanges load.

``GET /trace`` lists the traces (artifacts of kind ``trace``: those started here and those
``kinko trace run --incident`` indexed) with a form; ``GET /trace/new?incident=ID`` is the
form prefilled with the incident's theft transactions; ``POST /trace`` (role ``operate``)
starts the job (:mod:`kinko.services.trace_jobs`) and goes to ``GET /trace/{id}``, which
reloads itself while the job runs. ``/trace/{id}/graph.json`` is the graph that
``static/graph.js`` draws (amounts also formatted with the asset's decimals, so the browser
does no arithmetic); ``/trace/{id}/blacklist.yaml`` the TagPack; ``/trace/{id}/{file}`` any
other file directly inside the trace's own folder, as a download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from kinko.api.ranges import Download
from kinko.api.web.context import Site, Viewer, Web, amount, form_text
from kinko.domain.messages import N_, Message, msg, os_refusal
from kinko.domain.money import Asset
from kinko.domain.trace.model import AccountTransfers
from kinko.errors import BadInput, InputFileError, KinkoError, NotFound, Throttled
from kinko.ports import IncidentRow
from kinko.safeload import loads_json, read_bounded, whole_number
from kinko.services.artifact_files import file_in
from kinko.services.fsa import read_exposure
from kinko.services.trace import TraceReport
from kinko.services.trace_jobs import FILE_FORMATS, POLICIES, TraceJobs, TraceRequest

__all__ = ["router"]

REFRESH_SECONDS = 2
# served inline (the graph is fetched by the page, the picture shown); any other file is a
# download, never a page of this site (a folder's graph.html carries its own script)
INLINE = {"graph.json": "application/json", "graph.png": "image/png"}
DOWNLOADS = ("addresses.csv", "flows.csv", "exposure.csv", "summary.json", "graph.png",
             "graph.html")


def _read_summary(folder: Path) -> dict[str, Any] | None:
    try:
        data = loads_json(read_bounded(folder / "summary.json"), "summary.json", floats=True)
    except BadInput:  # unreadable, too large, too deep, not JSON: the page says so
        return None
    return data if isinstance(data, dict) else None


def _read_exposure(folder: Path) -> tuple[list[dict[str, Any]], Message | None]:
    """The trace's exposure per entity, or none and what is wrong with its file (the page
    says the exposure cannot be shown rather than that the taint reached no exchange)."""
    try:
        rows = read_exposure(folder, "exposure.csv")  # a folder's files are not trusted
    except OSError as exc:
        return [], msg("error.file.cannot_read", file="exposure.csv", reason=os_refusal(exc))
    except InputFileError as exc:
        return [], exc.said()
    return [{"entity": r.entity, "category": r.category, "taint": r.taint,
             "addresses": r.addresses} for r in rows], None


FORMAT_WORDS = {"csv": N_("tr.format.csv"), "parquet": N_("tr.format.parquet"),
                "ethereum-etl": N_("tr.format.ethereum-etl"),
                "mftracer": N_("tr.format.mftracer"), "nem": N_("tr.format.nem")}
"""The words of each transfers-file format the form offers (``FILE_FORMATS``)."""


# The trace engine (numba, DuckDB, Arrow) loads with the first trace this process runs or
# writes, not with the pages: a server whose operators only read traces never loads it.

def _load(path: Path, fmt: str) -> AccountTransfers:
    from kinko.chains import tracefiles

    return tracefiles.load_account(path, fmt)


def _write(report: TraceReport, folder: Path, asset: Asset | None, lang: str) -> None:
    from kinko.render.trace import write_blacklist, write_trace

    write_trace(report, folder, unit=asset, lang=lang)
    write_blacklist(folder, "tagpack", currency=asset.symbol if asset else "ETH",
                    out=folder / "blacklist.yaml",
                    assets={asset.symbol: asset} if asset else None)


def _jobs(web: Web) -> TraceJobs:
    custody = web.custody()
    jobs = TraceJobs(custody.ledger.store, web.clock, web.data_dir, chain=custody.chain,
                     assets=custody.ledger.assets, load=_load, write=_write)
    jobs.threads = web.trace_threads  # the jobs started by this app, across requests
    return jobs


def _trace(web: Web, trace_id: str) -> dict[str, Any]:
    return web.artifacts().get(trace_id, ("trace",))


def _asset_of(web: Web, row: dict[str, Any]) -> Asset | None:
    symbol = row["detail"].get("asset")
    return web.custody().ledger.assets.get(symbol) if isinstance(symbol, str) else None


def _show(units: int | str | None, asset: Asset | None) -> str:
    if units is None:
        return "—"
    value = int(units)
    return amount(value, asset) if asset is not None else f"{value:,}"


def _incidents_with_thefts(web: Web) -> list[IncidentRow]:
    service = web.incidents()
    found = []
    for row in service.incidents():
        if row["state"] == "resolved":
            continue
        if any(a["kind"] == "theft" and a.get("tx_hash")
               for a in service.incident(row["id"]).alerts):
            found.append(row)
    return found


def _form_data(web: Web, values: dict[str, Any]) -> dict[str, Any]:
    return {"v": values, "policies": POLICIES,
            "formats": [(f, FORMAT_WORDS[f]) for f in FILE_FORMATS],
            "assets": [a for a, x in web.custody().ledger.assets.items()
                       if x.chain != "fiat"],
            "incidents": _incidents_with_thefts(web)}


def _form_page(web: Web, request: Request, viewer: Viewer, values: dict[str, Any],
               message: Message | None = None, status: int = 200) -> HTMLResponse:
    return web.render(request, "trace_new.html.j2", viewer, status=status,
                      message=message, **_form_data(web, values))


_LONGEST = 20_000  # characters a field of the form takes (about 300 hashes, one a line)
_LABELS = {"incident": N_("tr.incident"), "seed_txs": N_("tr.seeds"), "policy": N_("tr.policy"),
           "asset": N_("tr.asset"), "from_block": N_("tr.from_block"),
           "transfers": N_("tr.file"), "format": N_("tr.format"),
           "stop_categories": N_("tr.stop_categories"), "max_hops": N_("tr.max_hops")}


def _blank(**values: Any) -> dict[str, Any]:
    return {"incident": "", "seed_txs": "", "policy": "haircut", "asset": "",
            "from_block": "", "transfers": "", "format": "csv",
            "stop_categories": "exchange", "max_hops": "", **values}


router = APIRouter(include_in_schema=False)


@router.get("/trace")
def traces(request: Request, web: Site) -> HTMLResponse:
    viewer = web.page(request)
    rows = web.artifacts().find("trace")
    return web.render(request, "trace_list.html.j2", viewer, traces=rows,
                      **_form_data(web, _blank()))


@router.get("/trace/new")
def new(request: Request, web: Site, incident: str = "") -> HTMLResponse:
    viewer = web.page(request, "operate")
    values = _blank()
    if incident:
        try:
            seeds = _jobs(web).seeds(incident)
        except BadInput as exc:
            raise NotFound(exc.message, says=exc.said()) from None
        values = _blank(incident=incident, seed_txs="\n".join(seeds.tx_hashes),
                        asset=seeds.asset or "",
                        from_block="" if seeds.first_block is None
                        else str(seeds.first_block))
    return _form_page(web, request, viewer, values)


@router.post("/trace")
async def start(request: Request, web: Site) -> Response:
    form = dict(await request.form())
    viewer = web.form(request, form, "operate")
    values = _blank(**{k: str(form.get(k, "")).strip() for k in _blank()})
    try:
        for name in values:  # refused, never cut short (a hash cut in half, seeds lost)
            values[name] = form_text(values, name, _LONGEST, _LABELS[name])
        first, hops = values["from_block"], values["max_hops"]
        if first and whole_number(first) is None:
            raise BadInput("the first block must be a whole number",
                           says=msg("error.whole_number", field=msg("error.field.from_block")))
        if hops and whole_number(hops) is None:
            raise BadInput("the hop limit must be a whole number",
                           says=msg("error.whole_number", field=msg("error.field.max_hops")))
        stops = tuple(c.strip() for c in values["stop_categories"].split(",") if c.strip())
        req = TraceRequest(
            seed_txs=tuple(values["seed_txs"].split()), policy=values["policy"],
            incident=values["incident"] or None, asset=values["asset"] or None,
            transfers=values["transfers"] or None, fmt=values["format"],
            from_block=whole_number(first), stop_categories=stops,
            max_hops=whole_number(hops), lang=viewer.lang)
        row = await run_in_threadpool(_jobs(web).start, req, by=viewer.name)
    except KinkoError as exc:  # 400, or 429 while as many traces as a process runs are
        page = _form_page(web, request, viewer, values, exc.said(), status=exc.http_status)
        if isinstance(exc, Throttled):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    web.access().audit(viewer.name, "trace.start", row["id"],
                       {"incident": req.incident, "policy": req.policy,
                        "seeds": list(req.seed_txs), "asset": req.asset,
                        "stop_categories": list(req.stop_categories),
                        "max_hops": req.max_hops,
                        "transfers": req.transfers})
    return web.done(f"/trace/{row['id']}")


@router.get("/trace/{trace_id}")
def page(request: Request, web: Site, trace_id: str) -> HTMLResponse:
    viewer = web.page(request)
    row = _trace(web, trace_id)
    folder = Path(row["folder"])
    asset = _asset_of(web, row)
    done = row["state"] == "done"
    summary = _read_summary(folder) if done else None
    exposure, unreadable = _read_exposure(folder) if done else ([], None)
    files = [n for n in DOWNLOADS if done and (folder / n).is_file()]
    return web.render(request, "trace.html.j2", viewer, trace=row, asset=asset,
                      summary=summary, exposure=exposure, exposure_unreadable=unreadable,
                      files=files,
                      show=lambda units: _show(units, asset), refresh=REFRESH_SECONDS,
                      policies=POLICIES)


@router.get("/trace/{trace_id}/graph.json")
def graph(request: Request, web: Site, trace_id: str) -> JSONResponse:
    web.page(request)
    row = _trace(web, trace_id)
    asset = _asset_of(web, row)
    try:
        data = loads_json(read_bounded(file_in(Path(row["folder"]), "graph.json")),
                          "graph.json", floats=True)
    except BadInput:
        raise NotFound("this trace's graph.json is not readable",
                       says=msg("error.trace_unreadable")) from None
    if not isinstance(data, dict):
        raise NotFound("this trace's graph.json is not readable",
                       says=msg("error.trace_unreadable"))
    for node in data.get("nodes", []):
        node["taint_received_shown"] = _show(node.get("taint_received"), asset)
        node["held_shown"] = _show(node.get("held"), asset)
    for edge in data.get("edges", []):
        edge["flow_shown"] = _show(edge.get("flow"), asset)
    data["unit"] = asset.symbol if asset else ""
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.get("/trace/{trace_id}/blacklist.yaml")
def blacklist(request: Request, web: Site, trace_id: str) -> Response:
    web.page(request)
    row = _trace(web, trace_id)
    if row["state"] != "done":
        raise NotFound("the trace has not finished", says=msg("error.trace_unfinished"))
    folder = Path(row["folder"])
    if not (folder / "blacklist.yaml").is_file():  # a folder `kinko trace run` wrote
        from kinko.render.trace import write_blacklist

        asset = _asset_of(web, row)
        try:
            write_blacklist(folder, "tagpack", currency=asset.symbol if asset else "ETH",
                            out=folder / "blacklist.yaml",
                            assets={asset.symbol: asset} if asset else None)
        except (InputFileError, OSError):
            raise NotFound("this trace's folder is not readable",
                           says=msg("error.trace_unreadable")) from None
    return Download(file_in(folder, "blacklist.yaml"), media_type="application/yaml",
                    filename=f"{trace_id}-blacklist.yaml")


@router.get("/trace/{trace_id}/{name}")
def download(request: Request, web: Site, trace_id: str, name: str) -> Response:
    web.page(request)
    row = _trace(web, trace_id)
    path = file_in(Path(row["folder"]), name)
    if name in INLINE:
        return Download(path, media_type=INLINE[name])
    media = "text/csv" if name.endswith(".csv") else "application/octet-stream"
    return Download(path, media_type=media, filename=f"{trace_id}-{name}",
                    content_disposition_type="attachment")
