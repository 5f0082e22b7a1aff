# ruff: noqa: E501  (Japanese text: ruff counts each wide character twice)
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
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

import kinko
from kinko.api.web import i18n
from kinko.api.web.context import Viewer, Web
from kinko.domain.money import Asset
from kinko.domain.reserves import PublishedRoot
from kinko.domain.reserves_proof import ratio_text
from kinko.errors import BadInput, KinkoError
from kinko.render.custody import finding_text
from kinko.render.fsa import write_fsa
from kinko.services.artifact_files import (
    ProofLookup,
    file_in,
    files_of,
    lookup_proof,
    read_plan_summary,
)
from kinko.services.custody import custody_report
from kinko.services.fsa import fsa_report
from kinko.services.reserves import refuse_reused_id
from kinko.services.reserves_chain import build_report, load_root

__all__ = ["router"]

DOWNLOADABLE = ("fsa", "refunds")
MEDIA = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf",
         ".csv": "text/csv; charset=utf-8", ".json": "application/json",
         ".md": "text/markdown; charset=utf-8", ".png": "image/png",
         ".py": "text/x-python; charset=utf-8"}

i18n.add({
    # custody
    "cu.title": ("Custody report: segregation of customer crypto-assets", "暗号資産の分別管理状況"),
    "cu.tab.custody": ("Custody", "分別管理状況"),
    "cu.tab.reports": ("FSA reports and refund plans", "金融庁への報告・返金計画"),
    "cu.generated": ("As of {when}", "{when} 時点"),
    "cu.policy": ("policy version {version}", "管理方針 第{version}版"),
    "cu.no_policy": ("no custody policy is loaded", "管理方針が読み込まれていません"),
    "cu.asset": ("Asset", "暗号資産"), "cu.customers": ("Customers", "顧客数"),
    "cu.liabilities": ("Owed to customers", "顧客預り暗号資産"),
    "cu.hot": ("Hot wallet", "ホットウォレット"), "cu.warm": ("Warm wallet", "ウォームウォレット"),
    "cu.cold": ("Cold wallet", "コールドウォレット"),
    "cu.online_share": ("Online share", "オンライン管理比率"), "cu.limit": ("Limit", "上限"),
    "cu.own": ("Own funds", "自己保有"),
    "cu.guarantee_required": ("Guarantee required", "履行保証暗号資産（必要額）"),
    "cu.guarantee_held": ("Guarantee held", "履行保証暗号資産（保有額）"),
    "cu.price": ("JPY per unit", "単価（円）"),
    "cu.online_jpy": ("Online (JPY)", "オンライン管理（円換算）"),
    "cu.cold_jpy": ("Cold (JPY)", "コールドウォレット（円換算）"),
    "cu.total": ("All assets by yen value: online {online} of {total} ({share}; limit {limit})",
                 "全暗号資産（円換算）：オンライン管理 {online} ／ 合計 {total}（{share}、上限 {limit}）"),
    "cu.unpriced": ("Yen totals need a price for every asset (KINKO_PRICES).",
                    "円換算の合計には全暗号資産の参照価格が必要です（KINKO_PRICES）。"),
    "cu.note": ("Segregation of customer assets. Online = hot (and warm, unless the policy says otherwise). "
                "Guarantee: the exchange's own crypto held offline must cover the customer crypto held "
                "online (Payment Services Act Art. 63-11-2). Limit: at most 5% of customer crypto by yen "
                "value online (Cabinet Office Ordinance Art. 27).",
                "分別管理：オンライン管理＝ホットウォレット（管理方針で別段の定めがない限りウォームウォレットを含む）。"
                "履行保証暗号資産：オンラインで管理する顧客暗号資産と同種・同量以上の自己の暗号資産をオフラインで保有すること"
                "（資金決済法第63条の11の2）。上限：顧客暗号資産の円換算額の5%以下（暗号資産交換業者に関する内閣府令第27条）。"),
    "cu.verdict_ok": ("No breach of the custody rules.", "分別管理に関する規制違反は検出されていません。"),
    "cu.verdict_bad": ("Breaches found: see the findings.", "規制違反が検出されました。検出事項を参照してください。"),
    "cu.findings": ("Findings", "検出事項"), "cu.severity": ("Severity", "重要度"),
    "cu.finding": ("Finding", "内容"), "cu.wallet": ("Wallet", "ウォレット"),
    "cu.sev.critical": ("critical", "重大"), "cu.sev.warning": ("warning", "注意"),
    "cu.sev.info": ("info", "情報"),
    "cu.reconcile": ("Reconciliation with the chain", "オンチェーン残高との照合"),
    "cu.reconcile_now": ("Reconcile now", "今すぐ照合"),
    "cu.reconcile_help": ("Each wallet's ledger balance against its addresses on chain at the node's head.",
                          "各ウォレットの帳簿残高を、ノードの最新ブロックにおけるアドレスの残高と照合します。"),
    "cu.reconciled": ("Reconciled at {when} against block {block}: {count} finding(s) from the chain.",
                      "{when} にブロック {block} と照合しました：チェーン照合の検出事項 {count} 件。"),
    "cu.no_node": ("No node is configured (KINKO_EVM_RPC_URL): balances on chain are not reconciled.",
                   "ノードが設定されていないため（KINKO_EVM_RPC_URL）、オンチェーン残高との照合は行えません。"),
    "cu.proposals": ("Proposals awaiting approval", "承認待ちの移動提案"),
    "cu.id": ("ID", "ID"), "cu.kind": ("Kind", "種別"), "cu.amount": ("Amount", "数量"),
    "cu.from_to": ("From → to", "移動元 → 移動先"), "cu.state": ("State", "状態"),
    "cu.approvals": ("Approvals", "承認"), "cu.proposer": ("Proposer", "提案者"),
    "cu.expires": ("Expires", "有効期限"),
    "cu.progress": ("{have} of {need}", "{need} 件中 {have} 件"),
    "cu.propose": ("Propose rebalance", "リバランスを提案"),
    "cu.propose_help": ("Turns every breach into a sweep (hot → cold) or refill (cold → hot) proposal for the approvers' quorum.",
                        "基準超過をスイープ（ホット→コールド）または補充（コールド→ホット）の提案にし、承認者の定足数に諮ります。"),
    "cu.proposed": ("{count} proposal(s) made.", "{count} 件の提案を作成しました。"),
    "cu.nothing_to_propose": ("Nothing to propose: no asset is outside its limits, or a proposal is already open.",
                              "提案はありません：上限を外れた暗号資産がないか、既に未完了の提案があります。"),
    # reports
    "rep.title": ("FSA reports and refund plans", "金融庁への報告・返金計画"),
    "rep.fsa": ("Reports to the FSA", "金融庁への報告書"),
    "rep.fsa_help": ("Online share per asset, wallet operation, detection of abnormal withdrawal requests, the answer to attacks and, for an incident, its cause, losses and refunds.",
                     "暗号資産ごとのオンライン管理比率（ホットウォレット・コールドウォレット、履行保証暗号資産）、ウォレットの管理体制、異常な送金依頼の検知、サイバー攻撃への対応、インシデントの原因・被害額・返金（補償）。"),
    "rep.generate": ("Generate the FSA report now", "金融庁への報告書を今すぐ作成"),
    "rep.incident": ("Incident (optional)", "インシデント（任意）"),
    "rep.lang": ("Language", "言語"), "rep.lang.ja": ("Japanese", "日本語"),
    "rep.lang.en": ("English", "英語"),
    "rep.pdf": ("also PDF (slower)", "PDF も作成（時間がかかります）"),
    "rep.refund_plan": ("Refund plan (optional)", "返金計画（任意）"),
    "rep.trace": ("Trace (optional)", "追跡結果（任意）"),
    "rep.none_chosen": ("none", "なし"),
    "rep.made": ("Written: {id}", "作成しました：{id}"),
    "rep.created": ("Created", "作成日時"), "rep.by": ("By", "作成者"),
    "rep.state": ("State", "状態"), "rep.report": ("Report", "報告書"),
    "rep.incident_col": ("Incident", "インシデント"), "rep.files": ("Files", "ファイル"),
    "rep.no_files": ("no files", "ファイルなし"),
    "rep.refunds": ("Refund plans", "返金計画"),
    "rep.plan": ("Plan", "計画"), "rep.asset": ("Asset", "暗号資産"),
    "rep.customers": ("Customers", "対象顧客数"), "rep.total_units": ("Total held", "対象数量"),
    "rep.price": ("Price", "参照価格"), "rep.total_refund": ("Total refund", "返金総額"),
    "rep.funds": ("Funds check (source of funds)", "原資の確認"),
    "rep.funds_ok": ("funds confirmed", "原資確認済み"),
    "rep.short": ("short by {amount}", "{amount} 不足"),
    "rep.bad_plan": ("cannot be read: {reason}", "読み込めません：{reason}"),
    # reserves
    "res.title": ("Proof of reserves", "準備金証明（分別管理の証明）"),
    "res.none": ("No reserves snapshot yet: run `kinko reserves snapshot --out DIR`.",
                 "準備金のスナップショットはまだありません（kinko reserves snapshot --out DIR）。"),
    "res.snapshot": ("Snapshot", "スナップショット"), "res.time": ("Taken", "基準日時"),
    "res.root": ("Root hash", "ルートハッシュ"), "res.ledger_seq": ("Ledger entry", "元帳の記帳番号"),
    "res.folder_state": ("State", "状態"),
    "res.other": ("Other snapshots", "その他のスナップショット"),
    "res.unreadable": ("The snapshot cannot be read: {reason}", "スナップショットを読み込めません：{reason}"),
    "res.totals": ("Owed to customers per asset (liabilities)", "暗号資産ごとの顧客預り（負債）"),
    "res.asset": ("Asset", "暗号資産"), "res.liabilities": ("Liabilities", "顧客預り"),
    "res.proven": ("Reserves proven by signature", "署名で管理が証明された保有額"),
    "res.unproven": ("Not proven: not counted", "未証明（算入しない）"),
    "res.ratio": ("Reserves ratio (proven reserves only)", "準備率（証明済み保有額のみ）"),
    "res.at_block": ("Balances at the block the root commits to. The ratio counts only addresses whose control a verified signature proves; balances at other registered addresses are shown apart and never counted.",
                     "ルートが固定したブロック時点の残高。準備率には、検証済みの署名で管理が証明されたアドレスの残高のみを算入し、その他の登録アドレスの残高は別に示して算入しません。"),
    "res.not_counted": ("{amount} at {n} address(es) without a valid proof of control: not counted.",
                        "有効な管理証明のない {n} 件のアドレスの {amount} は算入していません。"),
    "res.customers": ("Customers", "顧客数"),
    "res.count_none": ("not published (at most {n})", "非公表（最大 {n}）"),
    "res.count_exact": ("exactly {n}", "{n}（確定値）"),
    "res.count_range": ("between {low} and {high}", "{low}〜{high}"),
    "res.point": ("Reserves read at", "保有額の基準"),
    "res.point_at": ("block {block} of {chain} ({chain_id}), hash {hash}",
                     "{chain}（{chain_id}）のブロック {block}、ハッシュ {hash}"),
    "res.no_point": ("no chain block bound: this snapshot has no reserves ratio",
                     "ブロックが固定されていないため、準備率はありません"),
    "res.warning": ("Warning: {text}", "警告：{text}"),
    "res.no_node": ("No node is configured (KINKO_EVM_RPC_URL): the reserves ratio needs balances on chain.",
                    "ノードが設定されていないため（KINKO_EVM_RPC_URL）、準備率（オンチェーン残高）は算出できません。"),
    "res.ratio_error": ("The reserves ratio cannot be computed: {reason}", "準備率を算出できません：{reason}"),
    "res.lookup": ("Proof lookup", "証明の照会"),
    "res.lookup_help": ("A customer's proof that their balances are counted in the published root.",
                        "顧客の残高が公開されたルートに含まれていることの証明を照会します。"),
    "res.customer": ("Customer ID", "顧客ID"), "res.find": ("Look up", "照会"),
    "res.valid": ("The proof of {customer} leads to the published root.", "{customer} の証明は公開されたルートに一致します。"),
    "res.invalid": ("The proof of {customer} does NOT lead to the published root: {reason}",
                    "{customer} の証明は公開されたルートに一致しません：{reason}"),
    "res.unknown": ("No proof for {customer} in this snapshot.", "このスナップショットに {customer} の証明はありません。"),
    "res.counted": ("Balances counted", "証明された残高"),
    "res.download_proof": ("Download the proof (JSON)", "証明をダウンロード（JSON）"),
    "res.download_verifier": ("Download verify_proof.py", "verify_proof.py をダウンロード"),
})


def _yen(value: int | None) -> str:
    return "—" if value is None else f"¥{value:,}"


def _time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _benchmarks() -> Path | None:
    """The benchmark results the FSA report quotes for the watch's latency, when present."""
    for candidate in (Path("benchmarks") / "RESULTS.md",
                      Path(kinko.__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"):
        if candidate.is_file():
            return candidate
    return None


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    artifacts = web.artifacts

    def artifact(artifact_id: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        return artifacts().get(artifact_id, kinds)

    def download(folder: Path, name: str) -> FileResponse:
        path = file_in(folder, name)
        return FileResponse(path, filename=path.name,
                            media_type=MEDIA.get(path.suffix, "application/octet-stream"))

    # ------------------------------------------------------------------ custody

    def custody_page(request: Request, viewer: Viewer, *, reconciled: bool = False,
                     status: int = 200) -> HTMLResponse:
        custody = web.custody()
        head = None
        if reconciled and custody.chain is not None:
            head = custody.chain.head()
        report = custody_report(custody, reconcile=reconciled)
        decimals = {r.asset: r.decimals for r in report.rows}
        findings = [(f, finding_text(f, viewer.lang, decimals)) for f in report.findings]
        chain_codes = ("not_reconciled", "no_addresses", "wallet_short", "wallet_unbooked")
        proposals = [(p, custody.proposal(p.id)) for p in report.pending]
        total_share = (Decimal(report.total_online_jpy) / Decimal(report.total_jpy)
                       if report.total_online_jpy is not None and report.total_jpy else None)
        proposed = request.query_params.get("proposed")
        return web.render(
            request, "custody.html.j2", viewer, status=status, report=report,
            assets=custody.ledger.assets, findings=findings, proposals=proposals,
            node=custody.chain is not None, reconciled=reconciled, head=head,
            chain_findings=sum(1 for f in report.findings if f.code in chain_codes),
            total_share=total_share, yen=_yen,
            proposed=int(proposed) if proposed and proposed.isdigit() else None)

    @r.get("/custody")
    def custody(request: Request) -> HTMLResponse:
        return custody_page(request, web.page(request))

    @r.post("/custody/reconcile")
    async def reconcile(request: Request) -> HTMLResponse:
        viewer = web.form(request, dict(await request.form()), "operate")
        node = web.custody().chain is not None
        web.access().audit(viewer.name, "custody.reconcile", "custody", {"node": node})
        # shown at once: reconciling only reads, so a reload that posts again is harmless
        return await run_in_threadpool(custody_page, request, viewer, reconciled=node)

    @r.post("/custody/propose")
    async def propose(request: Request) -> Response:
        viewer = web.form(request, dict(await request.form()), "operate")
        made = await run_in_threadpool(web.custody().propose_rebalance, viewer.name)
        web.access().audit(viewer.name, "custody.propose_rebalance", "custody",
                           {"proposals": [v.proposal.id for v in made]})
        return web.done(f"/custody?proposed={len(made)}#proposals")

    # ------------------------------------------------------------------ reports

    @r.get("/reports")
    def reports(request: Request) -> HTMLResponse:
        viewer = web.page(request)
        index = artifacts()
        fsa = [(a, files_of(a["folder"])) for a in index.find("fsa", limit=50)]
        plans: list[tuple[dict[str, Any], dict[str, Any] | None, str, list[Path]]] = []
        for a in index.find("refunds", limit=50):
            try:
                plans.append((a, read_plan_summary(a["folder"]), "", files_of(a["folder"])))
            except KinkoError as exc:
                plans.append((a, None, exc.message, []))
        traces = [a for a in index.find("trace", limit=50) if a["state"] == "done"]
        made = request.query_params.get("made", "")
        return web.render(request, "custody_reports.html.j2", viewer, fsa=fsa, plans=plans,
                          traces=traces, assets=web.custody().ledger.assets,
                          made=made if any(a["id"] == made for a, _ in fsa) else "")

    @r.post("/reports/fsa")
    async def generate_fsa(request: Request) -> Response:
        form = dict(await request.form())
        viewer = web.form(request, form, "operate")
        lang = str(form.get("lang", "ja"))
        if lang not in ("ja", "en"):
            raise BadInput(f"language must be ja or en, not {lang!r}")
        incident = str(form.get("incident", "")).strip() or None
        pdf = str(form.get("pdf", "")) in ("1", "on", "yes")
        plan_id, trace_id = str(form.get("refund_plan", "")), str(form.get("trace", ""))
        plan = artifact(plan_id, ("refunds",))["folder"] if plan_id else None
        trace = artifact(trace_id, ("trace",))["folder"] if trace_id else None
        custody = web.custody()
        index = artifacts()
        title = f"FSA report ({lang})" + (f" for {incident}" if incident else "")
        row = index.start_in("fsa", title, web.data_dir / "fsa", by=viewer.name,
                             incident=incident, detail={"lang": lang, "pdf": pdf})
        folder = row["folder"]

        def write() -> list[Path]:  # seconds of work: off the event loop (live feeds go on)
            report = fsa_report(custody, incident=incident, refund_plan=plan, trace=trace,
                                benchmarks=_benchmarks(), confirmations=custody.confirmations)
            written = write_fsa(report, folder, "html", lang)
            if pdf:
                written += write_fsa(report, folder, "pdf", lang)[:1]
            return written

        try:
            written = await run_in_threadpool(write)
        except Exception as exc:
            index.fail(row["id"], exc.message if isinstance(exc, KinkoError) else repr(exc))
            raise
        index.finish(row["id"], {"files": sorted({p.name for p in written})})
        web.access().audit(viewer.name, "report.fsa", row["id"],
                           {"lang": lang, "pdf": pdf, "incident": incident})
        return web.done(f"/reports?made={row['id']}#fsa")

    @r.get("/reports/{artifact_id}/{name}")
    def report_file(request: Request, artifact_id: str, name: str) -> FileResponse:
        web.page(request)
        return download(artifact(artifact_id, DOWNLOADABLE)["folder"], name)

    # ------------------------------------------------------------------ reserves

    def reserves_page(request: Request, viewer: Viewer, chosen: str | None,
                      lookup: ProofLookup | None = None) -> HTMLResponse:
        custody = web.custody()
        snapshots = artifacts().find("reserves", limit=20)
        snap = next((a for a in snapshots if a["id"] == chosen), None) if chosen else next(
            (a for a in snapshots if a["state"] == "done"), None)
        root: PublishedRoot | None = None
        error = ratio_error = ""
        totals: list[tuple[str, Asset, int]] = []
        ratios = None
        if snap is not None:
            try:  # the totals shown are the committed ones: root.json must reproduce its hash
                root = load_root(snap["folder"])
                refuse_reused_id(artifacts(), root.header.snapshot_id.hex(),
                                 root.root_hash.hex())
                registered = set(custody.ledger.assets)
                for spec, total in zip(root.header.assets, root.totals, strict=True):
                    asset = custody.ledger.assets[spec.symbol] if spec.symbol in registered \
                        else Asset(spec.symbol, spec.chain, spec.decimals)
                    totals.append((spec.symbol, asset, total))
            except KinkoError as exc:
                root, error = None, exc.message
        if root is not None and custody.chain is not None:
            try:
                ratios = build_report(snap["folder"] if snap else Path(),
                                      custody.ledger.wallets(), custody.ledger.assets,
                                      custody.chain)
            except KinkoError as exc:
                ratio_error = exc.message
        units = {symbol: asset for symbol, asset, _ in totals}
        header = root.header if root is not None else None
        return web.render(
            request, "reserves.html.j2", viewer, snap=snap, snapshots=snapshots, root=root,
            header=header, error=error, totals=totals, ratios=ratios, ratio_error=ratio_error,
            node=custody.chain is not None, ratio_text=ratio_text, units=units,
            taken=_time(header.time) if header is not None else None, lookup=lookup)

    @r.get("/reserves")
    def reserves(request: Request, snapshot: str | None = None) -> HTMLResponse:
        return reserves_page(request, web.page(request), snapshot)

    @r.post("/reserves/proof")
    async def proof(request: Request) -> HTMLResponse:
        form = dict(await request.form())
        viewer = web.form(request, form, "read")
        snap = artifact(str(form.get("snapshot", "")), ("reserves",))
        customer = str(form.get("customer", ""))[:200]
        found = await run_in_threadpool(lookup_proof, snap["folder"], customer)
        web.access().audit(viewer.name, "reserves.proof_lookup", snap["id"],
                           {"customer": found.customer, "status": found.status})
        return await run_in_threadpool(reserves_page, request, viewer, snap["id"], found)

    @r.get("/reserves/{artifact_id}/proof")
    def proof_file(request: Request, artifact_id: str, customer: str = "") -> Response:
        viewer = web.page(request)
        snap = artifact(artifact_id, ("reserves",))
        found = lookup_proof(snap["folder"], customer[:200])
        if found.text is None:
            raise HTTPException(status_code=404, detail=f"no proof for {customer!r}")
        web.access().audit(viewer.name, "reserves.proof_download", snap["id"],
                           {"customer": found.customer})
        return Response(found.text + "\n", media_type="application/json", headers={
            "Content-Disposition": 'attachment; filename="proof.json"'})

    @r.get("/reserves/{artifact_id}/verify_proof.py")
    def verifier(request: Request, artifact_id: str) -> FileResponse:
        web.page(request)
        return download(artifact(artifact_id, ("reserves",))["folder"], "verify_proof.py")

    return r
