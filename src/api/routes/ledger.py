"""Ledger reads: ``GET /v1/transactions`` and the guide's ``GET /api/audience/transactions``;
and campaign analytics, computed from the ledger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from src.api.auth import Principal
from src.api.deps import CampaignsRead, EngineDep, TransactionsRead
from src.api.pagination import Cursor, Limit, page
from src.api.schemas.common import Page, errors
from src.api.schemas.reports import CampaignReportOut, TransactionOut
from src.api.scopes import visible
from src.domain.errors import Invalid
from src.domain.ids import TRANSACTION
from src.domain.ledger import TxnType
from src.services import reports

router = APIRouter(tags=["transactions"])


async def _page(
    principal: Principal,
    engine: EngineDep,
    limit: int,
    cursor: str | None,
    **filters: str | None,
) -> dict[str, Any]:
    before = None
    if cursor is not None:
        before = TRANSACTION.parse(cursor)
        if before is None:
            raise Invalid.field("cursor", "not a cursor from this endpoint")
    rows = await reports.ledger_page(engine, principal.org_id, before, limit + 1, **filters)
    found = page(rows, limit, TransactionOut.of, lambda r: TRANSACTION.wire(r.id))
    return visible(principal, "transactions", found)


@router.get(
    "/v1/transactions",
    response_model=Page[TransactionOut],
    operation_id="listTransactions",
    responses=errors(422),
)
async def list_transactions(
    principal: TransactionsRead,
    engine: EngineDep,
    userId: str | None = Query(None, max_length=255),
    campaignId: str | None = Query(None, max_length=64),
    eventId: str | None = Query(None, max_length=64),
    type: TxnType | None = Query(None),
    currency: str | None = Query(None, max_length=32),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The org's ledger, newest first (a code in it needs ``users:read`` too)."""
    return await _page(
        principal,
        engine,
        limit,
        cursor,
        currency=currency,
        user_id=userId,
        campaign_id=campaignId,
        event_id=eventId,
        type=type,
    )


@router.get(
    "/api/audience/transactions",
    response_model=Page[TransactionOut],
    operation_id="listUserTransactions",
    responses=errors(422),
)
async def audience_transactions(
    principal: TransactionsRead,
    engine: EngineDep,
    userId: str = Query(..., min_length=1, max_length=255),
    type: TxnType | None = Query(None),
    currency: str | None = Query(None, max_length=32),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The guide's "User can view rewards": one user's ledger, newest first."""
    return await _page(
        principal, engine, limit, cursor, user_id=userId, type=type, currency=currency
    )


@router.get(
    "/v1/analytics/campaigns/{campaign_id}",
    response_model=CampaignReportOut,
    operation_id="getCampaignAnalytics",
    tags=["analytics"],
    responses=errors(404),
)
async def campaign_analytics(
    campaign_id: str, principal: CampaignsRead, engine: EngineDep
) -> CampaignReportOut:
    """Actions matched, users rewarded, points, products and codes granted, failures and
    limit skips by reason, per day in the org's time zone."""
    zone, report = await reports.campaign(engine, principal.org_id, campaign_id)
    return CampaignReportOut.of(campaign_id, zone, report)
