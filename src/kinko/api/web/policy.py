
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

from kinko.api.web.context import Site, form_signature, form_text
from kinko.domain.messages import N_, msg
from kinko.domain.policy_lock import Standing, veto_bytes
from kinko.errors import Forbidden, KinkoError

__all__ = ["router"]


def _changes(s: Standing) -> tuple[list[Any], list[Any]]:
    diff = s.diff
    return (list(diff.loosenings), list(diff.tightenings)) if diff else ([], [])


def _remaining(until: datetime | None, now: datetime) -> tuple[int, int, int]:
    """(hours, minutes, seconds in all) left until ``until``."""
    left = max(timedelta(0), (until - now) if until is not None else timedelta(0))
    seconds = int(left.total_seconds())
    return seconds // 3600, seconds // 60 % 60, seconds


router = APIRouter(include_in_schema=False)


@router.get("/custody/policy")
def policy(request: Request, web: Site) -> HTMLResponse:
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


@router.post("/custody/policy/{version}/veto")
async def veto(request: Request, web: Site, version: int) -> Response:
    form = dict(await request.form())
    viewer = await run_in_threadpool(web.form, request, form, "read")  # role: below

    def work() -> None:
        approver = viewer.name
        try:
            approver = form_text(form, "approver", 64, N_("pol.veto_as")) or viewer.name
            viewer.session.key.require("approve")
            if approver != viewer.name and viewer.role != "admin":
                raise Forbidden(f"key {viewer.name!r} cannot veto as {approver!r}",
                                says=msg("error.cannot_act_as", key=viewer.name,
                                         name=approver))
            signature = form_signature(form)
            reason = form_text(form, "reason", 500, N_("pol.reason"))
            web.custody().veto(version, approver, signature, reason, actor=viewer.name)
        except KinkoError as exc:
            web.access().audit(viewer.name, "policy.veto.refused", f"policy-v{version}",
                               {"approver": approver, "why": exc.message})
            raise

    await run_in_threadpool(work)
    return web.done("/custody/policy")
