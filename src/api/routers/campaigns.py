"""Campaigns (guide "Step 2"): create active by default; edits make a new immutable version."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from src.api.auth import Principal, require
from src.api.body import parse
from src.api.errors import ApiError, from_pydantic
from src.api.pagination import Cursor, Limit, page
from src.domain.campaigns import CampaignCreate, CampaignDefinition, CampaignStatus
from src.store import campaigns

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
DEFINITION_FIELDS = tuple(CampaignDefinition.model_fields)


class CampaignPatch(BaseModel):
    """Any definition field (replaced whole) and/or a new status."""

    model_config = ConfigDict(extra="allow")

    status: Literal["draft", "active", "paused", "archived"] | None = None


@router.post("", status_code=201)
async def create_campaign(
    request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> JSONResponse:
    body = await parse(request, CampaignCreate)
    definition = CampaignDefinition.model_validate(body.model_dump(exclude={"status"}))
    async with request.app.state.engine.begin() as conn:
        campaign_id = await campaigns.create(conn, principal.org_id, definition, body.status)
        created = await campaigns.get(conn, principal.org_id, campaign_id)
    return JSONResponse(created, status_code=201)


@router.get("")
async def list_campaigns(
    request: Request,
    status: CampaignStatus | None = Query(None),
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("campaigns:read")),
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = await campaigns.list_page(
            conn, principal.org_id, cursor, limit + 1, status.value if status else None
        )
    return page(rows, limit, lambda r: r, lambda r: r["id"])


@router.get("/{campaign_id}")
async def get_campaign(
    campaign_id: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        found = await campaigns.get(conn, principal.org_id, campaign_id)
    if found is None:
        raise ApiError(404, "not_found", f"campaign '{campaign_id}' not found")
    return found


@router.patch("/{campaign_id}")
async def patch_campaign(
    campaign_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    patch = await parse(request, CampaignPatch)
    changes = patch.model_extra or {}
    unknown = sorted(set(changes) - set(DEFINITION_FIELDS))
    if unknown:
        raise ApiError(
            422,
            "validation_failed",
            f"{unknown[0]}: Extra inputs are not permitted",
            [{"field": f, "message": "Extra inputs are not permitted"} for f in unknown],
        )
    async with request.app.state.engine.begin() as conn:
        current = await campaigns.get(conn, principal.org_id, campaign_id, for_update=True)
        if current is None:
            raise ApiError(404, "not_found", f"campaign '{campaign_id}' not found")
        if changes:
            merged = {k: current[k] for k in DEFINITION_FIELDS if k in current} | changes
            try:
                definition = CampaignDefinition.model_validate(merged)
            except ValidationError as exc:
                raise from_pydantic(exc) from exc
            if definition.model_dump(mode="json") != {k: current.get(k) for k in DEFINITION_FIELDS}:
                await campaigns.new_version(conn, principal.org_id, campaign_id, definition)
        if patch.status is not None and patch.status != current["status"]:
            await campaigns.set_status(conn, principal.org_id, campaign_id, patch.status)
        updated = await campaigns.get(conn, principal.org_id, campaign_id)
    assert updated is not None
    return updated
