# ruff: noqa: E501  (Japanese text: ruff counts each wide character twice)
"""The custody policy's versions: the one in force, and loosenings waiting for their lock.

* ``/custody/policy``: the version in force (since when, its quorum), every version waiting
  for its time lock with a countdown to when it takes effect and what it loosens and
  tightens, field by field, and the versions vetoed or superseded
  (:meth:`~kinko.services.custody.Custody.policy_standings`);
* ``POST /custody/policy/{version}/veto``: one approver's veto, signed in the browser with
  the approver's key file or pasted from elsewhere
  (:meth:`~kinko.services.custody.Custody.veto`); the version never takes effect. Every
  veto, and every refused one, is in the audit log.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from kinko.api.web import i18n
from kinko.api.web.context import Web
from kinko.domain.policy_lock import Standing, veto_bytes
from kinko.errors import BadInput, Forbidden, KinkoError

__all__ = ["router"]

i18n.add({
    "cu.tab.policy": ("Policy versions", "管理方針の版"),
    "pol.title": ("Custody policy: the version in force and changes waiting", "管理方針：適用中の版と適用待ちの変更"),
    "pol.rule": ("A version that loosens anything (a higher limit, a new destination or approver, a lower quorum...) takes effect {hours} hours after its quorum, and any one approver can veto it meanwhile; a version that only tightens takes effect at once. A version that both tightens and loosens waits as a whole.",
                 "何かを緩める版（上限の引上げ、新しい送金先や承認者、必要承認数の引下げなど）は、承認が揃ってから{hours}時間後に適用され、その間は承認者の誰か一人が拒否権を行使できます。厳しくするだけの版は直ちに適用されます。緩める変更と厳しくする変更を含む版は、全体として待機します。"),
    "pol.in_force": ("In force: version {version}", "適用中：第{version}版"),
    "pol.since": ("In force since", "適用開始"),
    "pol.quorum": ("Quorum", "必要承認数"),
    "pol.quorum_of": ("{m} of {n} approvers", "承認者{n}名中{m}名"),
    "pol.digest": ("Digest", "ダイジェスト"),
    "pol.none": ("No custody policy is loaded.", "管理方針が読み込まれていません。"),
    "pol.pending": ("Waiting for the time lock", "適用待ち（タイムロック中）"),
    "pol.no_pending": ("No policy change is waiting.", "適用待ちの変更はありません。"),
    "pol.version": ("Version", "版"),
    "pol.approved": ("Quorum reached", "承認完了"),
    "pol.takes_effect": ("Takes effect", "適用予定"),
    "pol.remaining": ("in {hours} h {minutes} min", "あと{hours}時間{minutes}分"),
    "pol.under": ("Proposed under version {version}", "第{version}版のもとで提案"),
    "pol.loosens": ("Loosens", "緩める変更"),
    "pol.tightens": ("Tightens", "厳しくする変更"),
    "pol.field": ("Field", "項目"), "pol.before": ("Before", "変更前"), "pol.after": ("After", "変更後"),
    "pol.veto": ("Veto", "拒否する"),
    "pol.veto_help": ("One approver of version {version} is enough: sign the veto of version {target} (digest {digest}) and it never takes effect.",
                      "第{version}版の承認者一人で足ります：第{target}版（ダイジェスト {digest}）の拒否に署名すると、この版は適用されません。"),
    "pol.veto_as": ("Veto as", "拒否する承認者"),
    "pol.reason": ("Reason (kept with the veto)", "理由（拒否とともに記録されます）"),
    "pol.signed": ("Signed. Check and press Veto.", "署名しました。確認して「拒否する」を押してください。"),
    "pol.cannot_veto": ("Only an approver's key can veto.", "拒否できるのは承認者の鍵のみです。"),
    "pol.history": ("Earlier versions", "過去の版"),
    "pol.state": ("State", "状態"),
    "pol.state.effective": ("in force", "適用中"), "pol.state.pending": ("waiting", "適用待ち"),
    "pol.state.vetoed": ("vetoed", "拒否済み"), "pol.state.superseded": ("superseded", "置換済み"),
    "pol.state.unreadable": ("unreadable", "読めない"),
    "pol.state.unverifiable": ("not approved by a quorum: never in force", "承認の記録なし（適用されない）"),
    "pol.vetoed_by": ("vetoed by {who}", "{who} が拒否"),
    "pol.never": ("never", "適用されない"),
})


def _changes(s: Standing) -> tuple[list[Any], list[Any]]:
    diff = s.diff
    return (list(diff.loosenings), list(diff.tightenings)) if diff else ([], [])


def _remaining(until: datetime | None, now: datetime) -> tuple[int, int, int]:
    """(hours, minutes, seconds in all) left until ``until``."""
    left = max(timedelta(0), (until - now) if until is not None else timedelta(0))
    seconds = int(left.total_seconds())
    return seconds // 3600, seconds // 60 % 60, seconds


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/custody/policy")
    def policy(request: Request) -> HTMLResponse:
        viewer = web.page(request)
        custody = web.custody()
        now = custody.clock.now()
        found = custody.policy_standings(now)
        effective = next((s for s in found if s.state == "effective"), None)
        pending = [s for s in found if s.state == "pending"]
        signing = {s.facts.version: base64.b64encode(veto_bytes(
            s.facts.version, s.facts.policy.digest)).decode()
            for s in pending if s.facts.policy is not None}
        return web.render(
            request, "policy.html.j2", viewer, effective=effective, pending=pending,
            history=[s for s in found if s.state not in ("effective", "pending")],
            changes=_changes, remaining=lambda s: _remaining(s.effective_at, now),
            signing=signing, hours=int(custody.time_lock.total_seconds() // 3600))

    @r.post("/custody/policy/{version}/veto")
    async def veto(request: Request, version: int) -> Response:
        form = dict(await request.form())
        viewer = await run_in_threadpool(web.form, request, form, "read")  # role: below

        def text(name: str, limit: int) -> str:
            value = form.get(name)
            return value.strip()[:limit] if isinstance(value, str) else ""

        def work() -> None:
            approver = text("approver", 64) or viewer.name
            try:
                viewer.session.key.require("approve")
                if approver != viewer.name and viewer.role != "admin":
                    raise Forbidden(f"key {viewer.name!r} cannot veto as {approver!r}")
                signature = text("signature", 257)
                if not signature or len(signature) > 256:
                    raise BadInput("paste a signature (128 hexadecimal characters), or sign "
                                   "in the browser first")
                web.custody().veto(version, approver, signature, text("reason", 500),
                                   actor=viewer.name)
            except KinkoError as exc:
                web.access().audit(viewer.name, "policy.veto.refused", f"policy-v{version}",
                                   {"approver": approver, "why": exc.message})
                raise

        await run_in_threadpool(work)
        return web.done("/custody/policy")

    return r
