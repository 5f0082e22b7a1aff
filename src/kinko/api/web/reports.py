"""Custody and reports, and reserves: the pages an operator shows the regulator and auditors.

* ``/custody``: the custody report (:func:`~kinko.services.custody.custody_report`, what
  ``kinko report custody`` prints): positions, online shares against the limit, the
  performance guarantee, yen totals when priced, findings; reconciliation with the chain on
  demand (``POST /custody/reconcile``); the proposals awaiting their m-of-n approvals, each
  linking to ``/proposals/{id}``; ``POST /custody/propose`` turns breaches into sweeps and
  refills (:meth:`~kinko.services.custody.Custody.propose_rebalance`).
* ``/reports``: FSA reports and refund plans (artifacts of kinds ``fsa`` and ``refunds``);
  ``POST /reports/fsa`` writes the FSA report (HTML, and PDF when asked) into
  ``<data_dir>/fsa/<artifact id>/``; ``/reports/{artifact}/{file}`` downloads one file of
  such a folder (nothing outside it).
* ``/reserves``: the latest snapshot of liabilities (root.json, checked against its own root
  hash: the totals shown are the committed ones) with what its root binds (ledger entry,
  time, chain block, customer count); when a node is configured, per asset the reserves
  proven by signature, the ratio (proven reserves only) and, apart, the reserves not
  proven; and a proof lookup for one customer (``POST /reserves/proof``) with its proof and
  the standalone verifier to download.

Pages show what the services and the folders' own files say; nothing is re-derived here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from kinko.api.ranges import Download
from kinko.api.web.context import Site, Viewer, Web
from kinko.domain.messages import N_, Message, id_shown, msg
from kinko.domain.money import Asset
from kinko.domain.reserves import PublishedRoot
from kinko.domain.reserves_proof import ratio_text
from kinko.errors import BadInput, KinkoError, NotFound
from kinko.i18n import Localizer
from kinko.render.custody import finding_basis, wallet_rows
from kinko.render.fsa import write_fsa
from kinko.safeload import whole_number
from kinko.services.artifact_files import (
    ProofLookup,
    file_in,
    files_of,
    lookup_proof,
    read_plan_summary,
)
from kinko.services.custody import custody_report
from kinko.services.fsa import fsa_report
from kinko.services.overview import active_incidents
from kinko.services.refunds import posted_refunds
from kinko.services.reserves import refuse_reused_id
from kinko.services.reserves_chain import build_report, load_root

__all__ = ["router"]

DOWNLOADABLE = ("fsa", "refunds")
INCIDENT_ID = 64  # the most characters of an incident's id (what a report's index keeps)
MEDIA = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf",
         ".csv": "text/csv; charset=utf-8", ".json": "application/json",
         ".md": "text/markdown; charset=utf-8", ".png": "image/png",
         ".py": "text/x-python; charset=utf-8"}


def _yen(value: int | None) -> str:
    return "—" if value is None else f"¥{value:,}"


def _time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _artifact(web: Web, artifact_id: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    return web.artifacts().get(artifact_id, kinds)


def _download(folder: Path, name: str) -> Download:
    path = file_in(folder, name)
    return Download(path, filename=path.name,
                    media_type=MEDIA.get(path.suffix, "application/octet-stream"))


router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------ custody

def _custody_page(web: Web, request: Request, viewer: Viewer, *, reconciled: bool = False,
                  status: int = 200) -> HTMLResponse:
    custody = web.custody()
    head = None
    if reconciled and custody.chain is not None:
        head = custody.chain.head()
    report = custody_report(custody, reconcile=reconciled)
    L = Localizer(viewer.lang)
    findings = [(f, L.text(f.message), finding_basis(f, L)) for f in report.findings]
    wallets = list(zip(report.wallets, wallet_rows(report, L), strict=True))
    chain_codes = ("not_reconciled", "no_addresses", "wallet_short", "wallet_unbooked")
    proposals = [(p, custody.proposal(p.id)) for p in report.pending]
    total_share = (Decimal(report.total_online_jpy) / Decimal(report.total_jpy)
                   if report.total_online_jpy is not None and report.total_jpy else None)
    proposed = request.query_params.get("proposed")
    affected = active_incidents(custody)  # every asset under theft says so
    return web.render(
        request, "custody.html.j2", viewer, status=status, report=report, wallets=wallets,
        assets=custody.ledger.assets, findings=findings, proposals=proposals,
        node=custody.chain is not None, reconciled=reconciled, head=head,
        chain_findings=sum(1 for f in report.findings if f.code in chain_codes),
        total_share=total_share, yen=_yen, affected=affected,
        incidents={i["id"]: i for found in affected.values() for i in found}.values(),
        proposed=whole_number(proposed))


@router.get("/custody")
def custody(request: Request, web: Site) -> HTMLResponse:
    return _custody_page(web, request, web.page(request))


@router.post("/custody/reconcile")
async def reconcile(request: Request, web: Site) -> HTMLResponse:
    viewer = web.form(request, dict(await request.form()), "operate")
    node = web.custody().chain is not None
    web.access().audit(viewer.name, "custody.reconcile", "custody", {"node": node})
    # shown at once: reconciling only reads, so a reload that posts again is harmless
    return await run_in_threadpool(_custody_page, web, request, viewer, reconciled=node)


@router.post("/custody/propose")
async def propose(request: Request, web: Site) -> Response:
    viewer = web.form(request, dict(await request.form()), "operate")
    made = await run_in_threadpool(web.custody().propose_rebalance, viewer.name)
    web.access().audit(viewer.name, "custody.propose_rebalance", "custody",
                       {"proposals": [v.proposal.id for v in made]})
    return web.done(f"/custody?proposed={len(made)}#proposals")


# ------------------------------------------------------------------ reports

@router.get("/reports")
def reports(request: Request, web: Site) -> HTMLResponse:
    viewer = web.page(request)
    index = web.artifacts()
    fsa = [(a, files_of(a["folder"])) for a in index.find("fsa", limit=50)]
    plans: list[tuple[dict[str, Any], dict[str, Any] | None, Message | None, list[Path]]] = []
    for a in index.find("refunds", limit=50):
        try:
            plans.append((a, read_plan_summary(a["folder"]), None, files_of(a["folder"])))
        except KinkoError as exc:
            plans.append((a, None, exc.said(), []))
    traces = [a for a in index.find("trace", limit=50) if a["state"] == "done"]
    made = request.query_params.get("made", "")
    store = web.custody().ledger.store
    return web.render(request, "custody_reports.html.j2", viewer, fsa=fsa, plans=plans,
                      paid={doc["plan_id"]: posted_refunds(store, doc["plan_id"])
                            for _, doc, _, _ in plans if doc is not None},
                      traces=traces, assets=web.custody().ledger.assets,
                      made=made if any(a["id"] == made for a, _ in fsa) else "")


@router.post("/reports/fsa")
async def generate_fsa(request: Request, web: Site) -> Response:
    form = dict(await request.form())
    viewer = web.form(request, form, "operate")
    given = form.get("lang", "ja")
    lang = given if isinstance(given, str) else ""  # a file posted as the field: none
    if lang not in ("ja", "en"):
        raise BadInput(f"language must be ja or en, not {lang[:20]!r}",
                       says=msg("error.unknown_filter", field=msg("error.field.lang"),
                                value=lang[:20]))
    named = form.get("incident")
    incident = (named.strip() if isinstance(named, str) else "") or None
    if incident is not None and len(incident) > INCIDENT_ID:  # before the job is indexed
        raise BadInput(f"incident is longer than {INCIDENT_ID} characters",
                       says=msg("error.field_too_long", field="incident", limit=INCIDENT_ID))
    pdf = str(form.get("pdf", "")) in ("1", "on", "yes")
    plan_id, trace_id = str(form.get("refund_plan", "")), str(form.get("trace", ""))
    plan = _artifact(web, plan_id, ("refunds",))["folder"] if plan_id else None
    trace = _artifact(web, trace_id, ("trace",))["folder"] if trace_id else None
    if incident is not None:  # an unknown one is refused before the job is indexed
        await run_in_threadpool(web.incidents().incident, incident)
    custody = web.custody()
    index = web.artifacts()
    title = msg(N_("artifact.fsa.incident") if incident else N_("artifact.fsa"),
                lang=msg(f"lang.{lang}"), incident=incident or "")
    row = index.start_in("fsa", title, web.data_dir / "fsa", by=viewer.name,
                         incident=incident, detail={"lang": lang, "pdf": pdf})
    folder = row["folder"]

    def write() -> list[Path]:  # seconds of work: off the event loop (live feeds go on)
        report = fsa_report(custody, incident=incident, refund_plan=plan, trace=trace,
                            confirmations=custody.confirmations,
                            submitter=web.submitter)
        written = write_fsa(report, folder, "html", lang)
        if pdf:
            written += write_fsa(report, folder, "pdf", lang)[:1]
        return written

    try:
        written = await run_in_threadpool(write)
    except Exception as exc:
        if isinstance(exc, KinkoError):
            index.fail(row["id"], exc.message, exc.said())
        else:
            index.fail(row["id"], repr(exc), Message("error.unexpected", (("detail", repr(exc)),)))
        raise
    index.finish(row["id"], {"files": sorted({p.name for p in written})})
    web.access().audit(viewer.name, "report.fsa", row["id"],
                       {"lang": lang, "pdf": pdf, "incident": incident})
    return web.done(f"/reports?made={row['id']}#fsa")


@router.get("/reports/{artifact_id}/{name}")
def report_file(request: Request, web: Site, artifact_id: str, name: str) -> Download:
    web.page(request)
    return _download(_artifact(web, artifact_id, DOWNLOADABLE)["folder"], name)


# ------------------------------------------------------------------ reserves

def _reserves_page(web: Web, request: Request, viewer: Viewer, chosen: str | None,
                   lookup: ProofLookup | None = None) -> HTMLResponse:
    custody = web.custody()
    snapshots = web.artifacts().find("reserves", limit=20)
    snap = next((a for a in snapshots if a["id"] == chosen), None) if chosen else next(
        (a for a in snapshots if a["state"] == "done"), None)
    root: PublishedRoot | None = None
    error: Message | None = None
    ratio_error: Message | None = None
    totals: list[tuple[str, Asset, int]] = []
    ratios = None
    if snap is not None:
        try:  # the totals shown are the committed ones: root.json must reproduce its hash
            root = load_root(snap["folder"])
            refuse_reused_id(web.artifacts(), root.header.snapshot_id.hex(),
                             root.root_hash.hex())
            registered = set(custody.ledger.assets)
            for spec, total in zip(root.header.assets, root.totals, strict=True):
                asset = custody.ledger.assets[spec.symbol] if spec.symbol in registered \
                    else Asset(spec.symbol, spec.chain, spec.decimals)
                totals.append((spec.symbol, asset, total))
        except KinkoError as exc:
            root, error = None, exc.said()
    if root is not None and custody.chain is not None:
        try:
            ratios = build_report(snap["folder"] if snap else Path(),
                                  custody.ledger.wallets(), custody.ledger.assets,
                                  custody.chain)
        except KinkoError as exc:
            ratio_error = exc.said()
    units = {symbol: asset for symbol, asset, _ in totals}
    header = root.header if root is not None else None
    return web.render(
        request, "reserves.html.j2", viewer, snap=snap, snapshots=snapshots, root=root,
        header=header, error=error, totals=totals, ratios=ratios, ratio_error=ratio_error,
        node=custody.chain is not None, ratio_text=ratio_text, units=units,
        taken=_time(header.time) if header is not None else None, lookup=lookup)


@router.get("/reserves")
def reserves(request: Request, web: Site, snapshot: str | None = None) -> HTMLResponse:
    return _reserves_page(web, request, web.page(request), snapshot)


@router.post("/reserves/proof")
async def proof(request: Request, web: Site) -> HTMLResponse:
    form = dict(await request.form())
    viewer = web.form(request, form, "read")
    snap = _artifact(web, str(form.get("snapshot", "")), ("reserves",))
    customer = str(form.get("customer", ""))[:200]
    found = await run_in_threadpool(lookup_proof, snap["folder"], customer)
    web.access().audit(viewer.name, "reserves.proof_lookup", snap["id"],
                       {"customer": found.customer, "status": found.status})
    return await run_in_threadpool(_reserves_page, web, request, viewer, snap["id"], found)


@router.get("/reserves/{artifact_id}/proof")
def proof_file(request: Request, web: Site, artifact_id: str, customer: str = "") -> Response:
    viewer = web.page(request)
    snap = _artifact(web, artifact_id, ("reserves",))
    found = lookup_proof(snap["folder"], customer[:200])
    if found.text is None:
        raise NotFound(f"no proof for {id_shown(customer)!r}",
                       says=msg("error.no_proof", customer=id_shown(customer)))
    web.access().audit(viewer.name, "reserves.proof_download", snap["id"],
                       {"customer": found.customer})
    return Response(found.text + "\n", media_type="application/json", headers={
        "Content-Disposition": 'attachment; filename="proof.json"'})


@router.get("/reserves/{artifact_id}/verify_proof.py")
def verifier(request: Request, web: Site, artifact_id: str) -> Download:
    web.page(request)
    return _download(_artifact(web, artifact_id, ("reserves",))["folder"], "verify_proof.py")
