"""Backtests (``POST /v1/campaigns/{id}/backtest``, ``GET /v1/backtests/{id}``): what a
campaign, drafts included, would have granted over stored actions, granting nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from src.api.deps import CampaignsRead, CampaignsWrite, EngineDep, RunsDep
from src.api.schemas.backtests import BacktestBody, BacktestOut
from src.api.schemas.common import errors
from src.api.scopes import USER_DATA
from src.services import backtests

router = APIRouter(tags=["campaigns"])


@router.post(
    "/v1/campaigns/{campaign_id}/backtest",
    status_code=202,
    response_model=BacktestOut,
    operation_id="backtestCampaign",
    responses=errors(404, 409, 422, 503),
)
async def backtest_campaign(
    campaign_id: str,
    body: BacktestBody,
    principal: CampaignsWrite,
    engine: EngineDep,
    runs: RunsDep,
) -> BacktestOut:
    """Judge the campaign's current version over the org's stored actions of its trigger
    types whose timestamps fall in ``[from, to)`` (at most 366 days), limits simulated in
    timestamp order; nothing is granted, counted or reserved. Follow it at ``GET
    /v1/backtests/{id}``. A key without ``users:read`` backtests with its users' email and
    phone absent, as it simulates."""
    found = await backtests.request(
        engine,
        runs,
        principal.org_id,
        campaign_id,
        body.start,
        body.end,
        principal.holds(USER_DATA),
    )
    return BacktestOut.of(found, datetime.now(UTC))


@router.get(
    "/v1/backtests/{backtest_id}",
    response_model=BacktestOut,
    operation_id="getBacktest",
    responses=errors(404),
)
async def get_backtest(
    backtest_id: str, principal: CampaignsRead, engine: EngineDep
) -> BacktestOut:
    """Progress (``processed``/``total``, ``etaSeconds``) and, once completed, the result."""
    found = await backtests.get(engine, principal.org_id, backtest_id)
    return BacktestOut.of(found, datetime.now(UTC))
