"""``/v1/audit``: the audit log, and the check of its hash chain."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from kinko.api.v1.deps import ERRORS, Reader, Services, next_page
from kinko.api.v1.models import AuditCheckOut, AuditProblemOut, AuditRecordOut
from kinko.services.access import parse_anchor

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"],
                   responses=ERRORS)


@router.get("")
def audit_log(request: Request, response: Response, who: Reader, api: Services,
              after: Annotated[int, Query(ge=0, le=2**62)] = 0,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditRecordOut]:
    """The audit log in order, from the record after ``after``: who did what, on what, with
    what outcome, and every refusal that matters (wrong keys, refused approvals); the next
    page is in the ``Link`` header."""
    rows = api.access().audit_log(after, limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        next_page(request, response, "after", str(rows[-1]["seq"]))
    return [AuditRecordOut(seq=r["seq"], at=r["at"].isoformat(), actor=r["actor"],
                           action=r["action"], target=r["target"],
                           detail=json.loads(r["detail"]), prev_hash=r["prev_hash"],
                           hash=r["hash"]) for r in rows]


@router.get("/verify")
def audit_verify(who: Reader, api: Services,
                 head: Annotated[str | None, Query(max_length=100)] = None) -> AuditCheckOut:
    """Recompute the audit log's hash chain; with ``head=SEQ:HASH`` (the head kept
    elsewhere), also detect records deleted from its end. Findings are data: 200."""
    check = api.access().check_audit(parse_anchor(head, "head") if head else None)
    return AuditCheckOut(ok=check.ok, records=check.records, head_seq=check.head[0],
                         head_hash=check.head[1],
                         problems=[AuditProblemOut(seq=p.seq, message=p.message)
                                   for p in check.problems])
