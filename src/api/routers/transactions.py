"""Ledger reads: ``GET /v1/transactions`` and the guide's ``GET /api/audience/transactions``."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Row

from src.api.auth import Principal, require
from src.api.body import number
from src.api.errors import ApiError
from src.api.pagination import Cursor, Limit, page
from src.api.scopes import visible
from src.store import transactions

router = APIRouter(tags=["transactions"])


def render(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": f"txn_{row.id}",
        "userId": row.user_id,
        "type": row.type,
        "amount": number(row.amount),
        "currency": row.currency,
        "balanceAfter": number(row.balance_after),
        "productId": row.product_id,
        "code": row.code,
        "campaignId": row.campaign_id,
        "campaignVersion": row.campaign_version,
        "eventId": row.event_id,
        "effectIndex": row.effect_index,
        "reason": row.reason,
        "createdAt": row.created_at.isoformat(),
    }


async def _list(
    request: Request, principal: Principal, limit: int, cursor: str | None, **filters: str | None
) -> dict[str, Any]:
    before = None
    if cursor is not None:
        if not re.fullmatch(r"txn_[0-9]{1,18}", cursor):
            raise ApiError(
                422,
                "validation_failed",
                "cursor: not a cursor from this endpoint",
                [{"field": "cursor", "message": "invalid"}],
            )
        before = int(cursor[4:])
    async with request.app.state.engine.connect() as conn:
        rows = await transactions.list_page(conn, principal.org_id, before, limit + 1, **filters)
    return visible(principal, "transactions", page(rows, limit, render, lambda r: f"txn_{r.id}"))


TxnType = Literal["points", "product", "code", "merge"]


@router.get("/v1/transactions")
async def list_transactions(
    request: Request,
    userId: str | None = Query(None, max_length=255),
    campaignId: str | None = Query(None, max_length=64),
    eventId: str | None = Query(None, max_length=64),
    type: TxnType | None = Query(None),
    currency: str | None = Query(None, max_length=32),
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("transactions:read")),
) -> dict[str, Any]:
    return await _list(
        request,
        principal,
        limit,
        cursor,
        currency=currency,
        user_id=userId,
        campaign_id=campaignId,
        event_id=eventId,
        type=type,
    )


@router.get("/api/audience/transactions")
async def audience_transactions(
    request: Request,
    userId: str = Query(..., min_length=1, max_length=255),
    type: TxnType | None = Query(None),
    currency: str | None = Query(None, max_length=32),
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("transactions:read")),
) -> dict[str, Any]:
    return await _list(
        request, principal, limit, cursor, user_id=userId, type=type, currency=currency
    )
