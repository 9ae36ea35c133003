"""Campaign analytics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from src.api.auth import Principal, require
from src.api.body import number
from src.api.errors import ApiError
from src.store import analytics, campaigns, orgs

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


@router.get("/campaigns/{campaign_id}")
async def campaign_analytics(
    campaign_id: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    """Actions matched, users rewarded, points, products and codes granted, failures and
    limit skips by reason, per day in the org's time zone."""
    async with request.app.state.engine.connect() as conn:
        if await campaigns.get(conn, principal.org_id, campaign_id) is None:
            raise ApiError(404, "not_found", f"campaign '{campaign_id}' not found")
        tz = (await orgs.get_settings(conn, principal.org_id)).timezone
        report = await analytics.campaign(conn, principal.org_id, campaign_id, tz)
    report["pointsIssued"] = number(report["pointsIssued"])
    for day in report["perDay"]:
        day["pointsIssued"] = number(day["pointsIssued"])
    return report
