"""Trigger definitions (guide "Step 1")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert

from src.api.auth import Principal, require
from src.api.body import parse
from src.api.errors import ApiError
from src.domain.triggers import TriggerDefinition
from src.store.tables import Trigger

router = APIRouter(prefix="/v1/triggers", tags=["triggers"])


def render(row: Row[Any]) -> dict[str, Any]:
    return {
        **row.definition,
        "createdAt": row.created_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
    }


@router.post("", status_code=201)
async def create_trigger(
    request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> JSONResponse:
    trigger = await parse(request, TriggerDefinition)
    async with request.app.state.engine.begin() as conn:
        row = (
            await conn.execute(
                insert(Trigger)
                .values(
                    org_id=principal.org_id,
                    key=trigger.key,
                    definition=trigger.model_dump(mode="json"),
                )
                .on_conflict_do_nothing()
                .returning(Trigger)
            )
        ).first()
    if row is None:
        raise ApiError(409, "conflict", f"trigger '{trigger.key}' already exists")
    return JSONResponse(render(row), status_code=201)


@router.get("")
async def list_triggers(
    request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Trigger).where(Trigger.org_id == principal.org_id).order_by(Trigger.key)
            )
        ).all()
        return {"data": [render(r) for r in rows], "nextCursor": None}


@router.get("/{key}")
async def get_trigger(
    key: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        row = (
            await conn.execute(
                select(Trigger).where(Trigger.org_id == principal.org_id, Trigger.key == key)
            )
        ).first()
    if row is None:
        raise ApiError(404, "not_found", f"trigger '{key}' not found")
    return render(row)
