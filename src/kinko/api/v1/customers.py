"""``/v1/customers/{customer}/tier``: a customer's tier, read and recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from kinko.api.v1.deps import ERRORS, REFUSED, Admin, Audited, Reader, Services
from kinko.api.v1.models import TierIn, TierOut
from kinko.services.customers import customer_tier, set_tier

__all__ = ["router"]

router = APIRouter(prefix="/v1/customers", tags=["customers"],
                   responses={**ERRORS, **REFUSED})


def _tier(row: dict[str, Any]) -> TierOut:
    at = row["set_at"]
    return TierOut(customer=row["customer"], tier=row["tier"],
                   set_at=at.isoformat() if isinstance(at, datetime) else None,
                   set_by=row["set_by"])


@router.get("/{customer}/tier")
def get_tier(customer: str, who: Reader, api: Services) -> TierOut:
    """The customer's tier (``standard`` when none is recorded) and who set it."""
    return _tier(dict(customer_tier(api.withdrawals.ledger, customer)))


@router.put("/{customer}/tier")
def put_tier(customer: str, body: TierIn, who: Admin, api: Services,
             audit: Audited) -> TierOut:
    """Record the customer's tier, one of the active policy's (role admin; audited)."""
    return _tier(dict(set_tier(api.withdrawals.ledger, customer, body.tier, who.name,
                               actor=audit.actor)))
