"""Campaigns (guide "Step 2"): active on creation unless a draft; every edit of the definition
makes a new immutable version; status moves only along the lifecycle."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from src.api.auth import Principal, require
from src.api.body import parse
from src.api.errors import ApiError, from_pydantic, validation_error
from src.api.pagination import Cursor, Limit, page
from src.domain.campaigns import (
    CampaignCreate,
    CampaignDefinition,
    CampaignStatus,
    check_transition,
)
from src.domain.triggers import condition_errors
from src.store import campaigns, triggers

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
DEFINITION_FIELDS = tuple(CampaignDefinition.model_fields)


class CampaignPatch(BaseModel):
    """Any definition field (replaced whole) and/or a new status."""

    model_config = ConfigDict(extra="allow")

    status: CampaignStatus | None = None


async def _check_triggers(
    conn: AsyncConnection, org_id: str, definition: CampaignDefinition
) -> None:
    """Conditions on a declared trigger must name its fields with fitting operators and values."""
    declared = await triggers.definitions(conn, org_id, [r.type for r in definition.triggers])
    errors = [
        error
        for i, rule in enumerate(definition.triggers)
        if rule.type in declared
        for error in condition_errors(i, rule, declared[rule.type])
    ]
    if errors:
        raise validation_error(errors)


async def _current(conn: AsyncConnection, org_id: str, campaign_id: str) -> dict[str, Any]:
    found = await campaigns.get(conn, org_id, campaign_id, for_update=True)
    if found is None:
        raise ApiError(404, "not_found", f"campaign '{campaign_id}' not found")
    return found


@router.post("", status_code=201)
async def create_campaign(
    request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> JSONResponse:
    body = await parse(request, CampaignCreate)
    definition = CampaignDefinition.model_validate(body.model_dump(exclude={"status"}))
    async with request.app.state.engine.begin() as conn:
        await _check_triggers(conn, principal.org_id, definition)
        campaign_id = await campaigns.create(conn, principal.org_id, definition, body.status)
        created = await campaigns.get(conn, principal.org_id, campaign_id)
    return JSONResponse(created, status_code=201)


@router.get("")
async def list_campaigns(
    request: Request,
    status: CampaignStatus | None = Query(None),
    action: str | None = Query(None, max_length=64, description="Campaigns listening to it."),
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("campaigns:read")),
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = await campaigns.list_page(
            conn, principal.org_id, cursor, limit + 1, status.value if status else None, action
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


@router.get("/{campaign_id}/versions")
async def list_versions(
    campaign_id: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        versions = await campaigns.versions(conn, principal.org_id, campaign_id)
    if not versions:
        raise ApiError(404, "not_found", f"campaign '{campaign_id}' not found")
    return {"data": versions, "nextCursor": None}


@router.patch("/{campaign_id}")
async def patch_campaign(
    campaign_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    patch = await parse(request, CampaignPatch)
    changes = patch.model_extra or {}
    unknown = sorted(set(changes) - set(DEFINITION_FIELDS))
    if unknown:
        raise validation_error(
            [{"field": f, "message": "Extra inputs are not permitted"} for f in unknown]
        )
    async with request.app.state.engine.begin() as conn:
        current = await _current(conn, principal.org_id, campaign_id)
        if changes:
            if current["status"] == "archived":
                raise ApiError(409, "conflict", "an archived campaign cannot be edited")
            merged = {k: current[k] for k in DEFINITION_FIELDS if k in current} | changes
            try:
                definition = CampaignDefinition.model_validate(merged)
            except ValidationError as exc:
                raise from_pydantic(exc) from exc
            if definition.model_dump(mode="json") != {k: current.get(k) for k in DEFINITION_FIELDS}:
                await _check_triggers(conn, principal.org_id, definition)
                await campaigns.new_version(conn, principal.org_id, campaign_id, definition)
        if patch.status is not None and patch.status != current["status"]:
            check_transition(current["status"], patch.status)
            await campaigns.set_status(conn, principal.org_id, campaign_id, patch.status)
        updated = await campaigns.get(conn, principal.org_id, campaign_id)
    assert updated is not None
    return updated


async def _transition(
    request: Request, org_id: str, campaign_id: str, target: str
) -> dict[str, Any]:
    async with request.app.state.engine.begin() as conn:
        current = await _current(conn, org_id, campaign_id)
        check_transition(current["status"], target)
        await campaigns.set_status(conn, org_id, campaign_id, target)
        updated = await campaigns.get(conn, org_id, campaign_id)
    assert updated is not None
    return updated


@router.post("/{campaign_id}/activate")
async def activate(
    campaign_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    return await _transition(request, principal.org_id, campaign_id, "active")


@router.post("/{campaign_id}/pause")
async def pause(
    campaign_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    return await _transition(request, principal.org_id, campaign_id, "paused")


@router.post("/{campaign_id}/archive")
async def archive(
    campaign_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    return await _transition(request, principal.org_id, campaign_id, "archived")
