# ruff: noqa: E501  (Japanese text: ruff counts each wide character twice)
"""The withdrawals queue, a withdrawal's page, and every proposal's page with approval
signing.

``/withdrawals`` lists withdrawals by state (tabs with counts), filtered by customer and
asset, 50 a page, newest first, paged with a cursor (``?before=...``: as fast on the last
page as on the first). ``/withdrawals/{id}`` shows every fact, the screening decision with
each rule hit and the policy version, the m-of-n progress and the canonical proposal; the
approve form (role ``approve``) and the reject form (role ``operate``) post back to it.

``/proposals`` and ``/proposals/{id}`` show any proposal (sweep, refill, breaker reset,
refund, policy, withdrawal) the same way; approving goes through the use case that owns the
proposal (:meth:`Withdrawals.approve_proposal`).

An approval is an Ed25519 signature over ``signing_bytes(proposal)``, made by the approver
with their own key: pasted (``kinko approvers sign``) or made in the browser by
``static/sign.js`` from the approver's key file and password, which never leave the page
(the key inputs belong to no submitted form). The server verifies every signature.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from kinko.api.web import i18n
from kinko.api.web.context import Viewer, Web
from kinko.domain.approvals import signing_bytes
from kinko.domain.money import format_units
from kinko.errors import BadInput
from kinko.services.access import Forbidden
from kinko.services.custody import ProposalView
from kinko.services.withdrawals import STATES, WithdrawalView

__all__ = ["router"]

PAGE_SIZE = 50
DEFAULT_STATE = "review"
PROPOSAL_STATES = ("pending", "approved", "sent", "executed", "rejected", "expired")
_OPEN = ("allowed", "review", "approved")

i18n.add({
    "wd.title": ("Withdrawals", "出金"),
    "wd.all": ("all", "すべて"),
    "wd.state.review": ("held for review", "審査待ち"),
    "wd.state.allowed": ("allowed", "許可"),
    "wd.state.approved": ("approved", "承認済み"),
    "wd.state.sending": ("sending", "送信中"),
    "wd.state.sent": ("sent", "送信済み"),
    "wd.state.confirmed": ("confirmed", "確定"),
    "wd.state.failed": ("failed (reverted on chain; funds released)", "失敗（チェーン上で取消、資金解放）"),
    "wd.state.blocked": ("blocked", "拒否（審査）"),
    "wd.state.rejected": ("rejected", "却下"),
    "wd.state.expired": ("expired", "期限切れ"),
    "wd.customer": ("Customer", "顧客"),
    "wd.asset": ("Asset", "暗号資産"),
    "wd.any_asset": ("any", "すべて"),
    "wd.filter": ("Filter", "絞り込み"),
    "wd.clear": ("Clear", "解除"),
    "wd.id": ("ID", "ID"),
    "wd.requested": ("Requested", "依頼日時"),
    "wd.amount": ("Amount", "数量"),
    "wd.destination": ("Destination", "送付先"),
    "wd.state": ("State", "状態"),
    "wd.outcome": ("Screening", "審査結果"),
    "wd.progress": ("Approvals", "承認"),
    "wd.none": ("No withdrawals match.", "該当する出金はありません。"),
    "wd.older": ("Older →", "さらに古い →"),
    "wd.newest": ("← Newest", "← 最新"),
    "wd.shown": ("{n} shown", "{n}件を表示"),
    "wd.detail": ("Withdrawal {id}", "出金 {id}"),
    "wd.facts": ("Request", "出金依頼"),
    "wd.wallet": ("From wallet", "送付元ウォレット"),
    "wd.requester": ("Requested by", "依頼者"),
    "wd.tx": ("Transaction", "トランザクション"),
    "wd.decision": ("Screening decision", "審査（異常な出金依頼の検知）"),
    "wd.policy_version": ("Policy version", "管理方針の版"),
    "wd.outcome.allow": ("allow", "許可"),
    "wd.outcome.review": ("review: held for approval", "保留：承認が必要"),
    "wd.outcome.block": ("block", "拒否"),
    "wd.hits": ("Rule hits", "該当したルール"),
    "wd.no_hits": ("No rule matched.", "該当したルールはありません。"),
    "wd.rule": ("Rule", "ルール"),
    "wd.kind": ("Kind", "種類"),
    "wd.action": ("Action", "判定"),
    "wd.reason": ("Reason", "理由"),
    "wd.hit_detail": ("Detail", "詳細"),
    "wd.reject": ("Reject", "却下"),
    "wd.reject_help": ("Rejecting releases the customer's held funds.", "却下すると顧客の拘束資金は解放されます。"),
    "wd.reject_reason": ("Reason for rejecting", "却下の理由"),
    "wd.reject_confirm": ("Reject this withdrawal?", "この出金を却下しますか？"),
    "wd.no_proposal": ("No approval is needed for this withdrawal.", "この出金に承認は不要です。"),
    "prop.title": ("Proposals", "承認案件"),
    "prop.detail": ("Proposal {id}", "承認案件 {id}"),
    "prop.kind": ("Kind", "種類"),
    "prop.kind.sweep": ("sweep hot → cold", "ホット→コールドへの移動"),
    "prop.kind.refill": ("refill cold → hot", "コールド→ホットへの補充"),
    "prop.kind.policy": ("policy change", "管理方針の変更"),
    "prop.kind.withdrawal": ("withdrawal held for review", "審査待ちの出金"),
    "prop.kind.breaker": ("breaker reset", "サーキットブレーカーの解除"),
    "prop.kind.refund": ("refund override", "返金の例外処理"),
    "prop.state": ("State", "状態"),
    "prop.state.pending": ("pending", "承認待ち"),
    "prop.state.approved": ("approved", "承認済み"),
    "prop.state.sent": ("sent", "送信済み"),
    "prop.state.executed": ("executed", "実行済み"),
    "prop.state.rejected": ("rejected", "却下"),
    "prop.state.expired": ("expired", "期限切れ"),
    "prop.proposer": ("Proposed by", "提案者"),
    "prop.created": ("Created", "作成日時"),
    "prop.expires": ("Expires", "有効期限"),
    "prop.what": ("What", "内容"),
    "prop.payload": ("Payload", "内容の詳細"),
    "prop.canonical": ("Canonical text (what approvers sign)", "正規化テキスト（承認者が署名する内容）"),
    "prop.progress": ("{n} of {m} approvals", "承認 {n} / {m}"),
    "prop.approvals": ("Approvals", "承認"),
    "prop.approver": ("Approver", "承認者"),
    "prop.approved_at": ("Approved", "承認日時"),
    "prop.signature": ("Signature", "署名"),
    "safe.title": ("Safe owners' signatures", "Safe オーナーの署名"),
    "safe.progress": ("{n} of {m} owners' signatures", "オーナー署名 {n} / {m}"),
    "safe.help": ("This move is paid by a multisig wallet (a Safe): its owners sign the Safe transaction below. Sign its hash (the digest) with your owner key, or its 32 bytes as a message on a hardware wallet (eth_sign / personal_sign), and paste the 65-byte signature. kinko checks that it is an owner's signature of this transaction at the Safe's current nonce; `kinko proposals execute {id}` sends it once enough owners have signed.",
                  "この移動はマルチシグ・ウォレット（Safe）から支払われます。オーナーは下の Safe トランザクションに署名します。ハッシュ（digest）をオーナー鍵で署名するか、ハードウェアウォレットでその 32 バイトをメッセージとして署名し（eth_sign / personal_sign）、65 バイトの署名を貼り付けてください。kinko は、それがこのトランザクション（Safe の現在の nonce）へのオーナーの署名であることを確認します。必要な数のオーナーが署名したら `kinko proposals execute {id}` で送信します。"),
    "safe.digest": ("SafeTx hash (digest)", "SafeTx ハッシュ（digest）"),
    "safe.owner": ("Owner", "オーナー"),
    "safe.signed_at": ("Signed", "署名日時"),
    "safe.none": ("No owner has signed yet.", "まだどのオーナーも署名していません。"),
    "safe.your_owner": ("Your owner address", "あなたのオーナーアドレス"),
    "safe.paste": ("Signature (0x…, 65 bytes)", "署名（0x…、65 バイト）"),
    "safe.no_key_here": ("Owner keys never come to this page: sign on your own device, or with a key file on your own machine (`kinko proposals safe-sign {id} --owner ADDRESS --key FILE`, which records it directly).",
                         "オーナー鍵はこのページに渡しません。ご自身の端末で署名するか、ご自身のマシンで鍵ファイルを使って署名してください（`kinko proposals safe-sign {id} --owner ADDRESS --key FILE` は署名を直接記録します）。"),
    "safe.add": ("Add my signature", "署名を追加"),
    "prop.no_approvals": ("No approvals yet.", "まだ承認はありません。"),
    "prop.none": ("No proposals.", "承認案件はありません。"),
    "prop.open": ("Open", "開く"),
    "prop.approve": ("Approve", "承認"),
    "prop.approve_as": ("Approve as", "承認者名"),
    "prop.approve_help": ("Sign the canonical text with your approver key (Ed25519): paste a signature made offline with `kinko approvers sign {id} --key FILE`, or sign here in the browser. The server checks the signature against your registered public key.",
                          "承認者鍵（Ed25519）で正規化テキストに署名してください。オフラインで `kinko approvers sign {id} --key FILE` により作成した署名を貼り付けるか、このブラウザで署名できます。サーバーは登録済みの公開鍵で署名を検証します。"),
    "prop.paste": ("Signature (hex)", "署名（16進）"),
    "prop.sign_here": ("Sign in the browser", "ブラウザで署名"),
    "prop.key_file": ("Key file (PEM)", "鍵ファイル（PEM）"),
    "prop.key_password": ("Key password", "鍵のパスワード"),
    "prop.sign": ("Sign in browser", "ブラウザで署名する"),
    "prop.key_stays": ("The key file and password stay in this browser: they are not sent.", "鍵ファイルとパスワードはこのブラウザ内でのみ使われ、送信されません。"),
    "prop.no_webcrypto": ("Signing in the browser needs WebCrypto with Ed25519, available only over https or on http://127.0.0.1 / localhost (a secure context). Paste a signature made offline instead.",
                          "ブラウザでの署名には Ed25519 対応の WebCrypto が必要です。https または http://127.0.0.1・localhost（安全なコンテキスト）でのみ使えます。オフラインで作成した署名を貼り付けてください。"),
    "prop.signed": ("Signed. Check and press Approve.", "署名しました。確認して「承認」を押してください。"),
    "prop.sign_failed": ("Could not sign: wrong password, or not an approver key.", "署名できません：パスワードが違うか、承認者鍵ではありません。"),
    "prop.not_pending": ("This proposal is {state}: no more approvals are taken.", "この案件は「{state}」です。承認は受け付けていません。"),
    "prop.cannot_approve": ("Your role cannot approve.", "あなたのロールでは承認できません。"),
    "prop.for_withdrawal": ("This proposal holds withdrawal {id}.", "この案件は出金 {id} の承認です。"),
    "prop.expired": ("expired", "期限切れ"),
})


def _signing_b64(view: ProposalView) -> str:
    return base64.b64encode(signing_bytes(view.proposal)).decode()


def _payload(web: Web, view: ProposalView) -> list[tuple[str, str]]:
    """The proposal's payload as (field, text), amounts shown in whole units too."""
    payload = view.proposal.payload
    assets = web.withdrawals.ledger.assets
    symbol = payload.get("asset")
    out = []
    for name, value in sorted(payload.items()):
        text = value if isinstance(value, str) else repr(value)
        if name == "amount" and isinstance(symbol, str) and symbol in assets \
                and isinstance(value, str) and value.lstrip("-").isdigit():
            text = f"{format_units(int(value), assets[symbol])} {symbol} ({value})"
        out.append((name, text))
    return out


def _approver(web: Web, viewer: Viewer, form: dict[str, Any], proposal_id: str) -> str:
    """The approver named on the form: the key's holder; an admin may relay another's. A
    key that may not approve, or not as that approver, is refused and audited."""
    named = form.get("approver")
    approver = named.strip()[:64] if isinstance(named, str) and named.strip() else viewer.name
    try:
        viewer.session.key.require("approve")
        if approver != viewer.name and viewer.role != "admin":
            raise Forbidden(f"key {viewer.name!r} cannot approve as {approver!r}")
    except Forbidden as error:
        web.withdrawals.refused_approval(viewer.name, proposal_id, approver, error)
        raise
    return approver


def _signature(form: dict[str, Any]) -> str:
    value = form.get("signature")
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadInput("paste a signature, or sign in the browser first")
    if len(text) > 256:
        raise BadInput("a signature is 128 hexadecimal characters")
    return text


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def proposal_data(view: ProposalView | None) -> dict[str, Any]:
        if view is None:
            return {"proposal": None, "signing_b64": "", "payload": []}
        return {"proposal": view, "signing_b64": _signing_b64(view),
                "payload": _payload(web, view),
                "expired": web.clock.now() >= view.proposal.expires_at}

    def existing(withdrawal_id: str) -> WithdrawalView:
        try:
            return web.withdrawals.get(withdrawal_id)
        except BadInput:
            raise HTTPException(404, f"unknown withdrawal {withdrawal_id!r}") from None

    @r.get("/withdrawals")
    def queue(request: Request,
              state: Annotated[str | None, Query(max_length=16)] = None,
              customer: Annotated[str, Query(max_length=128)] = "",
              asset: Annotated[str, Query(max_length=16)] = "",
              before: Annotated[str, Query(max_length=300)] = "") -> HTMLResponse:
        viewer = web.page(request)
        chosen = DEFAULT_STATE if state is None else state
        page = web.withdrawals.page(state=None if chosen in ("", "all") else chosen,
                                    customer=customer.strip() or None,
                                    asset=asset.strip() or None, before=before or None,
                                    limit=PAGE_SIZE)
        filters = {k: v for k, v in (("customer", customer.strip()),
                                     ("asset", asset.strip())) if v}

        def link(**change: str) -> str:
            params = {"state": chosen or "all", **filters, **change}
            return "/withdrawals?" + urlencode({k: v for k, v in params.items() if v})

        return web.render(request, "withdrawals.html.j2", viewer, page=page,
                          state=chosen or "all", states=STATES, customer=customer.strip(),
                          asset=asset.strip(), assets=web.withdrawals.ledger.assets,
                          link=link, first_page=not before, total=sum(page.counts.values()),
                          quote=lambda v: quote(v, safe=""))

    @r.get("/withdrawals/{withdrawal_id}")
    def detail(request: Request, withdrawal_id: str) -> HTMLResponse:
        viewer = web.page(request)
        view = existing(withdrawal_id)
        proposal = web.withdrawals.custody.proposal(f"withdrawal-{withdrawal_id}")
        quoted = quote(withdrawal_id, safe="")
        return web.render(request, "withdrawals_detail.html.j2", viewer, w=view,
                          a=web.withdrawals.ledger.assets[view.asset],
                          can_reject=viewer.can("operate") and view.state in _OPEN,
                          approve_to=f"/withdrawals/{quoted}/approve",
                          reject_to=f"/withdrawals/{quoted}/reject",
                          quote=lambda v: quote(v, safe=""),
                          **proposal_data(proposal))

    @r.post("/withdrawals/{withdrawal_id}/approve")
    async def approve(request: Request, withdrawal_id: str) -> Response:
        form = dict(await request.form())
        viewer = await run_in_threadpool(web.form, request, form, "read")  # role: _approver

        def work() -> None:
            approver = _approver(web, viewer, form, f"withdrawal-{withdrawal_id}")
            signature = _signature(form)
            existing(withdrawal_id)
            web.withdrawals.approve(withdrawal_id, approver, signature, actor=viewer.name)

        await run_in_threadpool(work)
        return web.done(f"/withdrawals/{quote(withdrawal_id, safe='')}")

    @r.post("/withdrawals/{withdrawal_id}/reject")
    async def reject(request: Request, withdrawal_id: str) -> Response:
        form = dict(await request.form())
        viewer = await run_in_threadpool(web.form, request, form, "operate")
        reason = form.get("reason")
        reason = reason.strip() if isinstance(reason, str) else ""
        if not reason or len(reason) > 500:
            raise BadInput("give a reason for rejecting (1-500 characters)")

        def work() -> None:
            existing(withdrawal_id)
            web.withdrawals.reject(withdrawal_id, viewer.name, reason, actor=viewer.name)

        await run_in_threadpool(work)
        return web.done(f"/withdrawals/{quote(withdrawal_id, safe='')}")

    @r.get("/proposals")
    def proposals(request: Request,
                  state: Annotated[str, Query(max_length=16)] = "pending") -> HTMLResponse:
        viewer = web.page(request)
        if state not in (*PROPOSAL_STATES, "all"):
            raise BadInput(f"state must be one of {', '.join(PROPOSAL_STATES)} or all")
        views = web.withdrawals.custody.proposals(None if state == "all" else state)
        return web.render(request, "withdrawals_proposals.html.j2", viewer, views=views,
                          state=state, states=PROPOSAL_STATES, now=web.clock.now(),
                          quote=lambda v: quote(v, safe=""))

    @r.get("/proposals/{proposal_id}")
    def proposal(request: Request, proposal_id: str) -> HTMLResponse:
        viewer = web.page(request)
        view = web.withdrawals.custody.proposal(proposal_id)
        if view is None:
            raise HTTPException(404, f"unknown proposal {proposal_id!r}")
        withdrawal = view.proposal.payload.get("withdrawal") \
            if view.proposal.kind == "withdrawal" else None
        owners = web.withdrawals.custody.owners_signing(proposal_id)
        return web.render(request, "withdrawals_proposal_page.html.j2", viewer,
                          approve_to=f"/proposals/{quote(proposal_id, safe='')}/approve",
                          owners_to=f"/proposals/{quote(proposal_id, safe='')}/owner-signature",
                          safe_tx=owners[0] if owners else None,
                          owner_signatures=owners[1] if owners else [],
                          withdrawal=withdrawal if isinstance(withdrawal, str) else None,
                          quote=lambda v: quote(v, safe=""), **proposal_data(view))

    @r.post("/proposals/{proposal_id}/owner-signature")
    async def owner_signature(request: Request, proposal_id: str) -> Response:
        form = dict(await request.form())
        viewer = await run_in_threadpool(web.form, request, form, "approve")
        owner = form.get("owner")
        owner = owner.strip() if isinstance(owner, str) else ""
        if not owner or len(owner) > 128:
            raise BadInput("give your owner address (the key you signed with)")
        text = form.get("signature")
        text = text.strip().removeprefix("0x") if isinstance(text, str) else ""
        if len(text) != 130:
            raise BadInput("an owner's signature is 65 bytes: 130 hexadecimal characters")
        try:
            signature = bytes.fromhex(text)
        except ValueError:
            raise BadInput("the signature is not hexadecimal") from None

        def work() -> None:
            if web.withdrawals.custody.proposal(proposal_id) is None:
                raise HTTPException(404, f"unknown proposal {proposal_id!r}")
            web.withdrawals.custody.add_owner_signature(proposal_id, owner, signature,
                                                        actor=viewer.name)

        await run_in_threadpool(work)
        return web.done(f"/proposals/{quote(proposal_id, safe='')}")

    @r.post("/proposals/{proposal_id}/approve")
    async def approve_proposal(request: Request, proposal_id: str) -> Response:
        form = dict(await request.form())
        viewer = await run_in_threadpool(web.form, request, form, "read")  # role: _approver

        def work() -> None:
            approver = _approver(web, viewer, form, proposal_id)
            signature = _signature(form)
            if web.withdrawals.custody.proposal(proposal_id) is None:
                raise HTTPException(404, f"unknown proposal {proposal_id!r}")
            web.withdrawals.approve_proposal(proposal_id, approver, signature,
                                             actor=viewer.name)

        await run_in_threadpool(work)
        return web.done(f"/proposals/{quote(proposal_id, safe='')}")

    return r
