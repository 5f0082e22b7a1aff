"""``/v1/custody``: per asset, what is owed and where it is held, and the findings."""

from __future__ import annotations

from fastapi import APIRouter

from kinko.api.v1.deps import ERRORS, Reader, Services
from kinko.api.v1.models import CustodyFindingOut, CustodyOut, CustodyRowOut
from kinko.domain.money import format_units
from kinko.domain.policy import plain_decimal
from kinko.i18n import ENGLISH
from kinko.services.custody import custody_report

__all__ = ["router"]

router = APIRouter(prefix="/v1/custody", tags=["custody"],
                   responses=ERRORS)


@router.get("")
def custody(who: Reader, api: Services) -> CustodyOut:
    """Per asset: owed to customers, hot/warm/cold holdings, online share and limit, the
    performance guarantee, and the findings (the chain is not read: see `kinko check`)."""
    active = api.custody()
    report = custody_report(active, reconcile=False)
    assets = active.ledger.assets

    def show(units: int, symbol: str) -> str:
        return format_units(units, assets[symbol])

    return CustodyOut(
        generated_at=report.generated_at.isoformat(), policy_version=report.policy_version,
        assets=[CustodyRowOut(
            asset=r.asset, customers=r.customers, liabilities=show(r.liabilities, r.asset),
            hot=show(r.hot, r.asset), warm=show(r.warm, r.asset), cold=show(r.cold, r.asset),
            online_share=None if r.online_share is None else plain_decimal(r.online_share),
            max_hot_ratio=None if r.max_hot_ratio is None else plain_decimal(r.max_hot_ratio),
            guarantee_required=show(r.guarantee_required, r.asset),
            guarantee_held=show(r.guarantee_held, r.asset)) for r in report.rows],
        findings=[CustodyFindingOut(code=f.code, severity=f.severity, asset=f.asset,
                                    law=f.law, message=ENGLISH.text(f.message),
                                    message_id=f.message.to_data())
                  for f in report.findings])
