"""Event ingestion, exactly as the integration guide shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from src.api.auth import Principal, require
from src.api.body import parse
from src.api.errors import ApiError
from src.domain.actions import ActionRequest
from src.store import events

router = APIRouter(prefix="/api/audience/internal/actions", tags=["actions"])


@router.post("", status_code=202)
async def post_action(
    request: Request, principal: Principal = Depends(require("actions:write"))
) -> JSONResponse:
    action = await parse(request, ActionRequest)
    header_key = request.headers.get("idempotency-key")
    if header_key is not None and not 1 <= len(header_key) <= 255:
        raise ApiError(
            422,
            "validation_failed",
            "Idempotency-Key: must be 1-255 characters",
            [{"field": "Idempotency-Key", "message": "must be 1-255 characters"}],
        )
    if header_key and action.idempotencyKey and header_key != action.idempotencyKey:
        raise ApiError(
            422,
            "validation_failed",
            "idempotencyKey: differs from the Idempotency-Key header",
            [{"field": "idempotencyKey", "message": "differs from the header"}],
        )
    key = header_key or action.idempotencyKey
    # Committed before the reply; the relay starts the workflow (workflow ID = event ID).
    async with request.app.state.engine.begin() as conn:
        event_id, created, fingerprint = await events.accept(
            conn, principal.org_id, action, key, datetime.now(UTC)
        )
    if not created and fingerprint != action.fingerprint():
        raise ApiError(
            409,
            "idempotency_conflict",
            f"Idempotency-Key '{key}' was already used with a different body "
            f"(event {event_id}); use a new key for a new action",
            {"eventId": event_id},
        )
    return JSONResponse(
        {
            "eventId": event_id,
            "processed": False,
            "message": "Action queued for processing",
        },
        status_code=202,
    )


@router.get("/{event_id}")
async def get_action(
    event_id: str, request: Request, principal: Principal = Depends(require("actions:write"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        found = await events.describe(conn, principal.org_id, event_id)
    if found is None:
        raise ApiError(404, "not_found", f"event '{event_id}' not found")
    return found
