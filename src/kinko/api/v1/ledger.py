"""``/v1/balances``: customers' balances, a page at a time."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from kinko.api.limits import NUL
from kinko.api.v1.deps import ERRORS, Reader, Services, next_page
from kinko.api.v1.models import BalanceOut
from kinko.domain.ledger import normal_balance
from kinko.domain.messages import msg
from kinko.domain.money import format_units
from kinko.errors import BadInput

__all__ = ["balance_cursor", "balance_cursor_of", "router"]

router = APIRouter(prefix="/v1", tags=["ledger"],
                   responses=ERRORS)


def balance_cursor_of(account: str, asset: str) -> str:
    return base64.urlsafe_b64encode(f"{account}\n{asset}".encode()).decode().rstrip("=")


def balance_cursor(cursor: str) -> tuple[str, str]:
    """The (account, asset) a balances page ends at, from its opaque cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if NUL in text:  # no account or asset has one (PostgreSQL would refuse the query)
            raise ValueError(cursor)
        account, asset = text.split("\n")
    except ValueError:  # bad base64, not UTF-8, a NUL, not two lines
        raise BadInput(f"not a page cursor: {cursor[:40]!r}",
                       says=msg("error.withdrawal.bad_cursor", cursor=cursor[:40])) from None
    return account, asset


@router.get("/balances")
def balances(request: Request, response: Response, who: Reader, api: Services,
             customer: Annotated[str | None, Query(max_length=128)] = None,
             asset: Annotated[str | None, Query(max_length=16)] = None,
             after: Annotated[str | None, Query(max_length=400)] = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100,
             ) -> list[BalanceOut]:
    """Customers' balances by account and asset, a page at a time (only that page is
    read): the next page is in the ``Link`` header (``rel="next"``) and its cursor in
    ``X-Next-Cursor`` (pass it as ``after``)."""
    ledger = api.custody().ledger
    rows = ledger.balances(account=f"customer:{customer}" if customer else None,
                           kind=None if customer else "customer", asset=asset,
                           after=balance_cursor(after) if after else None, limit=limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        next_page(request, response, "after", balance_cursor_of(rows[-1].account,
                                                                rows[-1].asset))
    return [BalanceOut(account=r.account, asset=r.asset,
                       balance=format_units(normal_balance(r.account, r.state),
                                            ledger.assets[r.asset]),
                       held=format_units(r.state.pending_debit, ledger.assets[r.asset]))
            for r in rows]
