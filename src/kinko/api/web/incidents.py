# ruff: noqa: E501  (Japanese text: ruff counts each wide character twice)
"""Alerts, incidents and the circuit breaker: what the people on duty look at when the alarm
goes, and the forms they act with.

Pages (all need a session; forms need the ``operate`` role and the session's CSRF token):

- ``/alerts`` newest first, filtered by state and kind, 50 to a page (``?page=2``);
  ``/alerts/{id}`` every field and the acknowledge form (``POST /alerts/{id}/ack``).
- ``/incidents`` (``?state=``) and ``/incidents/{id}``: facts, alerts, the timeline the watch
  and the operators wrote, losses booked; forms for a note (``POST …/note``) and a state move
  (``POST …/move``); the incident report at ``/incidents/{id}/report.html``; a link to start a
  trace from the incident (``/trace/new?incident={id}``).
- ``/breaker``: tripped scopes, the log, the trip form (``POST /breaker/trip``), the reset
  proposal form (``POST /breaker/reset`` → ``/proposals/{id}``, where the quorum signs) and
  the reset proposals still open.

Every action is the service's (:mod:`kinko.services.incidents`,
:mod:`kinko.services.withdrawals`) and is written to the audit log as the REST API does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from kinko.api.web import i18n
from kinko.api.web.context import Viewer, Web, amount
from kinko.errors import BadInput, NotFound, UnknownAsset
from kinko.render.incident import incident_html
from kinko.services.incidents import ALERT_STATES, INCIDENT_MOVES, IncidentView

__all__ = ["ALERT_KINDS", "PAGE_SIZE", "router"]

PAGE_SIZE = 50
# the kinds the watch raises (kinko.domain.watch.Alert), and the policy co-signer's refusals
# (it inserts them itself: kinko.store.cosign_view), offered in the filter
ALERT_KINDS = ("theft", "theft_attempt", "unknown_tx", "delegation", "nonce", "code",
               "allowance", "call", "displaced", "balance_drop", "denied_deposit",
               "audit_allowance", "audit_delegation", "cosign_refused", "policy_loosening")
INCIDENT_STATES = tuple(INCIDENT_MOVES)
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

i18n.add({
    # alerts
    "al.title": ("Alerts", "アラート"),
    "al.alert": ("Alert {id}", "アラート {id}"),
    "al.filter": ("Filter", "絞り込み"),
    "al.any": ("any", "すべて"),
    "al.state": ("State", "状態"), "al.kind": ("Kind", "種類"),
    "al.severity": ("Severity", "重大度"), "al.raised": ("Raised", "検知日時"),
    "al.detail": ("What", "内容"), "al.wallet": ("Wallet", "ウォレット"),
    "al.asset": ("Asset", "暗号資産"), "al.amount": ("Amount", "数量"),
    "al.tx": ("Transaction", "トランザクション"), "al.chain_state": ("On chain", "チェーン上の状態"),
    "al.block": ("Block", "ブロック"), "al.incident": ("Incident", "インシデント"),
    "al.acked_by": ("Acknowledged by", "確認者"), "al.acked": ("Acknowledged at", "確認日時"),
    "al.key": ("Key", "識別キー"),
    "al.ack": ("Acknowledge", "確認"), "al.note": ("Note", "メモ"),
    "al.ack_help": ("Acknowledging records who saw the alert; it does not reset the breaker (that takes the quorum).",
                    "確認は誰がアラートを見たかを記録します。サーキットブレーカーは解除されません（解除には承認が必要です）。"),
    "al.none": ("No alerts.", "アラートはありません。"),
    "al.page": ("Page {page}", "{page} ページ"),
    "al.newer": ("← Newer", "← 新しい"), "al.older": ("Older →", "古い →"),
    "al.state.open": ("open", "未確認"), "al.state.acked": ("acknowledged", "確認済み"),
    "al.kind.theft": ("theft", "不正送金"), "al.kind.unknown_tx": ("unknown transaction", "不明な取引"),
    "al.kind.theft_attempt": ("theft attempt (reverted)", "不正送金の試み（失敗）"),
    "al.kind.delegation": ("account delegated (EIP-7702)", "アカウントの委任（EIP-7702）"),
    "al.kind.nonce": ("nonce used by someone else", "第三者によるノンス使用"),
    "al.kind.code": ("foreign code on a wallet address", "ウォレットアドレス上の不明なコード"),
    "al.kind.allowance": ("allowance granted", "送金許可（approve）の付与"),
    "al.kind.call": ("call into a delegated wallet", "委任されたウォレットへの呼び出し"),
    "al.kind.displaced": ("withdrawal displaced (nonce used)", "出金の置換（ノンス使用済み）"),
    "al.kind.audit_allowance": ("open allowance (start audit)", "未失効の送金許可（起動時監査）"),
    "al.kind.audit_delegation": ("delegation (start audit)", "委任（起動時監査）"),
    "al.kind.balance_drop": ("balance drop", "残高急減"),
    "al.kind.denied_deposit": ("deposit from a denied address", "拒否リスト上のアドレスからの入金"),
    "al.kind.cosign_refused": ("refused by the co-signer", "共同署名者による署名拒否"),
    "al.kind.policy_loosening": ("policy loosening waiting (vetoable)", "管理方針の緩和（適用待ち・拒否可能）"),
    "al.sev.critical": ("critical", "重大"), "al.sev.high": ("high", "高"),
    "al.sev.warning": ("warning", "警告"),
    "al.chain.pending": ("pending", "未承認"), "al.chain.mined": ("in a block", "ブロック取込済み"),
    "al.chain.final": ("final", "確定"), "al.chain.retracted": ("retracted", "取消（再編成）"),
    "al.chain.dropped": ("never mined (replaced or dropped)", "未取込（置換または破棄）"),
    # incidents
    "inc.title": ("Incidents", "インシデント"),
    "inc.incident": ("Incident {id}", "インシデント {id}"),
    "inc.id": ("ID", "ID"), "inc.state": ("State", "状態"), "inc.name": ("Title", "件名"),
    "inc.asset": ("Asset", "暗号資産"), "inc.wallet": ("Wallet", "ウォレット"),
    "inc.opened": ("Opened", "発生日時"), "inc.closed": ("Resolved", "解決日時"),
    "inc.alerts": ("Alerts", "アラート"), "inc.timeline": ("Timeline", "タイムライン"),
    "inc.losses": ("Losses booked", "計上済みの損失"), "inc.no_losses": ("No loss is booked in the ledger.", "台帳に計上された損失はありません。"),
    "inc.account": ("Ledger account", "勘定"),
    "inc.note": ("Add a note", "メモを追加"), "inc.note_text": ("Note", "メモ"),
    "inc.add": ("Add", "追加"),
    "inc.move": ("Move", "状態変更"), "inc.to": ("To", "変更先"), "inc.reason": ("Reason", "理由"),
    "inc.trace": ("Start a trace from this incident's theft transactions", "このインシデントの不正送金から追跡を開始"),
    "inc.report": ("Incident report (HTML)", "インシデント報告書（HTML）"),
    "inc.none": ("No incidents.", "インシデントはありません。"),
    "inc.at": ("When", "日時"), "inc.actor": ("Who", "実施者"), "inc.kind": ("Kind", "種別"),
    "inc.state.open": ("open", "対応中"), "inc.state.contained": ("contained", "封じ込め済み"),
    "inc.state.resolved": ("resolved", "解決済み"),
    "inc.to.open": ("reopen", "再開"), "inc.to.contained": ("contained", "封じ込め"),
    "inc.to.resolved": ("resolved", "解決"),
    "inc.ev.opened": ("opened", "発生"), "inc.ev.alert": ("alert", "アラート"),
    "inc.ev.ack": ("acknowledged", "確認"), "inc.ev.note": ("note", "メモ"),
    "inc.ev.state": ("state", "状態変更"), "inc.ev.breaker": ("breaker", "サーキットブレーカー"),
    "inc.ev.chain": ("chain", "チェーン"), "inc.ev.loss": ("loss", "損失計上"),
    "inc.ev.sweep": ("sweep", "緊急移管"), "inc.ev.trace": ("trace", "追跡"),
    "inc.ev.notice": ("notice", "通知"), "inc.ev.cause": ("cause", "原因"),
    "inc.ev.withdrawals": ("withdrawals", "出金"),
    # breaker
    "brk.title": ("Circuit breaker", "サーキットブレーカー"),
    "brk.scope": ("Scope", "対象"), "brk.all": ("* (every asset)", "*（全暗号資産）"),
    "brk.state": ("State", "状態"), "brk.tripped": ("tripped", "作動中"),
    "brk.normal": ("not tripped", "通常"), "brk.since": ("Since", "作動日時"),
    "brk.by": ("By", "実施者"), "brk.reason": ("Reason", "理由"),
    "brk.none_tripped": ("No breaker is tripped: withdrawals are screened as usual.",
                         "作動中のサーキットブレーカーはありません（出金は通常どおり審査されます）。"),
    "brk.trip": ("Trip", "作動"), "brk.trip_help": ("Tripping stops every withdrawal of the scope at once; resetting it takes the quorum's approvals.",
                                                   "作動させると対象の出金を直ちにすべて停止します。解除には承認者の定足数の承認が必要です。"),
    "brk.reset": ("Propose reset", "解除を提案"),
    "brk.reset_help": ("A reset is a proposal the approvers sign; it takes effect at the quorum.",
                       "解除は承認者が署名する提案として作成され、定足数に達すると有効になります。"),
    "brk.proposals": ("Reset proposals awaiting approval", "承認待ちの解除提案"),
    "brk.proposal": ("Proposal", "提案"), "brk.progress": ("Approvals", "承認"),
    "brk.of": ("{done} of {quorum}", "{done} / {quorum} 承認"),
    "brk.proposer": ("Proposed by", "提案者"), "brk.expires": ("Expires", "有効期限"),
    "brk.no_proposals": ("No reset is awaiting approval.", "承認待ちの解除提案はありません。"),
    "brk.log": ("Log", "履歴"), "brk.at": ("When", "日時"), "brk.event": ("Event", "操作"),
    "brk.ev.trip": ("trip", "作動"), "brk.ev.reset": ("reset", "解除"),
})


def _label(lang: str, prefix: str, value: Any) -> str:
    """The word for a state or kind; the value itself when there is none."""
    if value is None:
        return "—"
    try:
        return i18n.translate(lang, f"{prefix}.{value}")
    except KeyError:
        return str(value)


def _text(form: dict[str, Any], name: str, limit: int = 500) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters")
    return value.strip()


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    service = web.incidents

    def shown(row: dict[str, Any]) -> dict[str, Any]:
        """An alert with its amount in whole units of its asset."""
        text = "—"
        if row.get("amount") is not None:
            try:
                text = amount(int(row["amount"]), web.withdrawals.ledger.assets[row["asset"]])
            except (UnknownAsset, KeyError, TypeError):
                text = str(row["amount"])
        return {**row, "shown": text}

    def alert(alert_id: str) -> dict[str, Any]:
        try:
            return service().alert(alert_id)
        except BadInput as exc:
            raise NotFound(exc.message) from None

    def incident(incident_id: str) -> IncidentView:
        try:
            return service().incident(incident_id)
        except BadInput as exc:
            raise NotFound(exc.message) from None

    def words(viewer: Viewer) -> Callable[[str, Any], str]:
        return lambda prefix, value: _label(viewer.lang, prefix, value)

    # ------------------------------------------------------------------ alerts

    @r.get("/alerts")
    def alerts(request: Request, state: str = "", kind: str = "", page: int = 1
               ) -> HTMLResponse:
        viewer = web.page(request)
        if state and state not in ALERT_STATES:
            raise BadInput(f"alert state must be open or acked, not {state!r}")
        if len(kind) > 32:
            raise BadInput("an alert kind is at most 32 characters")
        page = max(page, 1)
        rows = service().alerts(state or None, PAGE_SIZE + 1, kind=kind or None,
                                offset=(page - 1) * PAGE_SIZE, newest_first=True)

        def link(to: int) -> str:
            return "/alerts?" + urlencode({k: v for k, v in (
                ("state", state), ("kind", kind), ("page", str(to))) if v})

        return web.render(request, "alerts.html.j2", viewer, label=words(viewer),
                          alerts=[shown(a) for a in rows[:PAGE_SIZE]], state=state,
                          kind=kind, kinds=ALERT_KINDS, states=ALERT_STATES, page=page,
                          newer=link(page - 1) if page > 1 else None,
                          older=link(page + 1) if len(rows) > PAGE_SIZE else None)

    @r.get("/alerts/{alert_id}")
    def alert_page(request: Request, alert_id: str) -> HTMLResponse:
        viewer = web.page(request)
        return web.render(request, "alert.html.j2", viewer, label=words(viewer),
                          a=shown(alert(alert_id)))

    @r.post("/alerts/{alert_id}/ack")
    async def ack(request: Request, alert_id: str) -> RedirectResponse:
        form = dict(await request.form())

        def act() -> None:
            viewer = web.form(request, form, "operate")
            alert(alert_id)
            note = _text(form, "note")
            with web.withdrawals.store.unit():  # the change and its audit record together
                service().ack(alert_id, viewer.name, note)
                web.access().audit(viewer.name, "alert.ack", alert_id, {"note": note})

        await run_in_threadpool(act)
        return web.done(f"/alerts/{alert_id}")

    # ------------------------------------------------------------------ incidents

    @r.get("/incidents")
    def incidents(request: Request, state: str = "") -> HTMLResponse:
        viewer = web.page(request)
        if state and state not in INCIDENT_STATES:
            raise BadInput(f"incident state must be one of {', '.join(INCIDENT_STATES)}, "
                           f"not {state!r}")
        rows = sorted(service().incidents(state or None), key=lambda i: i["opened"],
                      reverse=True)
        return web.render(request, "incidents.html.j2", viewer, label=words(viewer),
                          incidents=rows, state=state, states=INCIDENT_STATES)

    @r.get("/incidents/{incident_id}")
    def incident_page(request: Request, incident_id: str) -> HTMLResponse:
        viewer = web.page(request)
        view = incident(incident_id)
        assets = web.withdrawals.ledger.assets
        losses = [(symbol, f"loss:{incident_id}",
                   amount(units, assets[symbol]) if symbol in assets else str(units))
                  for symbol, units in sorted(service().losses(incident_id).items())]
        return web.render(request, "incident.html.j2", viewer, label=words(viewer),
                          i=view.incident, alerts=[shown(a) for a in view.alerts],
                          timeline=view.timeline, losses=losses,
                          moves=INCIDENT_MOVES.get(view.incident["state"], ()))

    @r.get("/incidents/{incident_id}/report.html")
    def report(request: Request, incident_id: str) -> HTMLResponse:
        viewer = web.page(request)
        view = incident(incident_id)
        assets = web.withdrawals.ledger.assets

        def show(symbol: str, units: Any) -> str:
            return amount(int(units), assets[symbol]) if symbol in assets else str(units)

        return HTMLResponse(incident_html(view, viewer.lang, show), headers={
            "Content-Security-Policy": REPORT_CSP,
            "Content-Disposition": f'attachment; filename="{incident_id}.html"'})

    @r.post("/incidents/{incident_id}/note")
    async def note(request: Request, incident_id: str) -> RedirectResponse:
        form = dict(await request.form())

        def act() -> None:
            viewer = web.form(request, form, "operate")
            incident(incident_id)
            text = _text(form, "text", 2000)
            with web.withdrawals.store.unit():  # the change and its audit record together
                service().note(incident_id, viewer.name, text)
                web.access().audit(viewer.name, "incident.note", incident_id, {"text": text})

        await run_in_threadpool(act)
        return web.done(f"/incidents/{incident_id}")

    @r.post("/incidents/{incident_id}/move")
    async def move(request: Request, incident_id: str) -> RedirectResponse:
        form = dict(await request.form())

        def act() -> None:
            viewer = web.form(request, form, "operate")
            before = incident(incident_id).incident["state"]
            state, reason = _text(form, "state", 16), _text(form, "reason")
            with web.withdrawals.store.unit():  # the change and its audit record together
                service().move(incident_id, state, viewer.name, reason)
                web.access().audit(viewer.name, "incident.move", incident_id,
                                   {"from": before, "to": state, "reason": reason})

        await run_in_threadpool(act)
        return web.done(f"/incidents/{incident_id}")

    # ------------------------------------------------------------------ breaker

    @r.get("/breaker")
    def breaker(request: Request) -> HTMLResponse:
        viewer = web.page(request)
        w = web.withdrawals
        tripped = w.breaker()
        resets = [p for p in w.custody.proposals("pending") if p.proposal.kind == "breaker"]
        # every asset the exchange holds has a row, and so has anything tripped
        held = {wallet.asset for wallet in w.ledger.wallets()} | set(tripped)
        rows = [(scope, tripped.get(scope),
                 [p for p in resets if p.proposal.payload.get("scope") == scope])
                for scope in ["*", *sorted(held - {"*"})]]
        return web.render(request, "breaker.html.j2", viewer, label=words(viewer),
                          rows=rows, tripped=sorted(tripped), resets=resets,
                          log=list(reversed(w.breaker_log()))[:100],
                          scopes=[s for s in ["*", *w.ledger.assets] if s not in tripped])

    @r.post("/breaker/trip")
    async def trip(request: Request) -> RedirectResponse:
        form = dict(await request.form())

        def act() -> None:
            viewer = web.form(request, form, "operate")
            scope, reason = _text(form, "scope", 16), _text(form, "reason")
            if not scope or not reason:
                raise BadInput("say which scope (an asset or *) to trip and why")
            web.withdrawals.trip(scope, viewer.name, reason, actor=viewer.name)

        await run_in_threadpool(act)
        return web.done("/breaker")

    @r.post("/breaker/reset")
    async def propose_reset(request: Request) -> RedirectResponse:
        form = dict(await request.form())

        def act() -> str:
            viewer = web.form(request, form, "operate")
            scope = _text(form, "scope", 16)
            view = web.withdrawals.propose_reset(scope, viewer.name, actor=viewer.name)
            return view.proposal.id

        proposal_id = await run_in_threadpool(act)
        return web.done(f"/proposals/{proposal_id}")

    return r
