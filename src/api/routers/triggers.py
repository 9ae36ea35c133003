"""Trigger definitions (guide "Step 1"): the declared, typed fields of an action's data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from src.api.auth import Principal, require
from src.api.body import parse
from src.api.errors import ApiError
from src.api.pagination import Cursor, Limit, page
from src.domain.triggers import TriggerDefinition
from src.store import triggers

router = APIRouter(prefix="/v1/triggers", tags=["triggers"])


def _not_found(key: str) -> ApiError:
    return ApiError(404, "not_found", f"trigger '{key}' not found")


@router.post("", status_code=201)
async def create_trigger(
    request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> JSONResponse:
    trigger = await parse(request, TriggerDefinition)
    async with request.app.state.engine.begin() as conn:
        row = await triggers.create(conn, principal.org_id, trigger)
    if row is None:
        raise ApiError(409, "conflict", f"trigger '{trigger.key}' already exists")
    request.app.state.trigger_cache.clear()
    return JSONResponse(triggers.render(row), status_code=201)


@router.get("")
async def list_triggers(
    request: Request,
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("campaigns:read")),
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = await triggers.list_page(conn, principal.org_id, cursor, limit + 1)
    return page(rows, limit, triggers.render, lambda r: r.key)


@router.get("/{key}")
async def get_trigger(
    key: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        row = await triggers.get(conn, principal.org_id, key)
    if row is None:
        raise _not_found(key)
    return triggers.render(row)


@router.put("/{key}")
async def replace_trigger(
    key: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    """Replace the definition; campaigns already written against it keep their versions."""
    trigger = await parse(request, TriggerDefinition)
    if trigger.key != key:
        raise ApiError(
            422,
            "validation_failed",
            "key: must match the path",
            [{"field": "key", "message": "must match the path"}],
        )
    async with request.app.state.engine.begin() as conn:
        row = await triggers.replace(conn, principal.org_id, trigger)
    if row is None:
        raise _not_found(key)
    request.app.state.trigger_cache.clear()
    return triggers.render(row)


@router.delete("/{key}", status_code=204)
async def delete_trigger(
    key: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> Response:
    async with request.app.state.engine.begin() as conn:
        if not await triggers.remove(conn, principal.org_id, key):
            raise _not_found(key)
    request.app.state.trigger_cache.clear()
    return Response(status_code=204)
