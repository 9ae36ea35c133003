"""Event ingestion, exactly as the integration guide shows it, plus batches and replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from temporalio.service import RPCError

from src.api.auth import Principal, charge, ensure_fits, require
from src.api.body import parse, read_json
from src.api.cache import TTLCache
from src.api.errors import ApiError, from_pydantic, validation_error
from src.api.scopes import visible
from src.domain.actions import (
    MAX_BATCH,
    MAX_BODY_BYTES,
    MAX_FUTURE,
    ActionRequest,
    too_far_ahead,
)
from src.domain.triggers import TriggerDefinition, data_errors
from src.services.replay import replay
from src.store import events, triggers

router = APIRouter(prefix="/api/audience/internal/actions", tags=["actions"])
QUEUED = {"processed": False, "message": "Action queued for processing"}


def _conflict(key: str | None, event_id: str) -> ApiError:
    return ApiError(
        409,
        "idempotency_conflict",
        f"Idempotency-Key '{key}' was already used with a different body "
        f"(event {event_id}); use a new key for a new action",
        {"eventId": event_id},
    )


async def _admit(request: Request, org_id: str, action: ActionRequest, now: datetime) -> None:
    """422 naming the field for a timestamp too far ahead of the server's clock, or ``data``
    contradicting the action's declared trigger."""
    if too_far_ahead(action.timestamp, now):
        message = f"more than {MAX_FUTURE.seconds // 60} minutes ahead of the server's clock"
        raise validation_error([{"field": "timestamp", "message": message}])
    cache: TTLCache[tuple[str, str], TriggerDefinition | None] = request.app.state.trigger_cache
    known, trigger = cache.get((org_id, action.action))
    if not known:
        generation = cache.generation
        async with request.app.state.engine.connect() as conn:
            found = await triggers.definitions(conn, org_id, [action.action])
        trigger = found.get(action.action)
        cache.put((org_id, action.action), trigger, generation)
    if trigger is not None:
        errors = data_errors(trigger, action.data)
        if errors:
            raise validation_error(errors)


def _header_key(request: Request, longest: int = 255) -> str | None:
    header = request.headers.get("idempotency-key")
    if header is not None and not 1 <= len(header) <= longest:
        message = f"must be 1-{longest} characters"
        raise validation_error([{"field": "Idempotency-Key", "message": message}])
    return header


def _idempotency_key(request: Request, action: ActionRequest) -> str | None:
    header = _header_key(request)
    if header and action.idempotencyKey and header != action.idempotencyKey:
        raise ApiError(
            422,
            "validation_failed",
            "idempotencyKey: differs from the Idempotency-Key header",
            [{"field": "idempotencyKey", "message": "differs from the header"}],
        )
    return header or action.idempotencyKey


@router.post("", status_code=202)
async def post_action(
    request: Request, principal: Principal = Depends(require("actions:write"))
) -> JSONResponse:
    action = await parse(request, ActionRequest, bounds=None)
    now = datetime.now(UTC)
    await _admit(request, principal.org_id, action, now)
    key = _idempotency_key(request, action)
    # Committed before the reply (one atomic statement, so no BEGIN/COMMIT round trips);
    # a relay starts the workflow (workflow ID = event ID).
    async with request.app.state.autocommit.connect() as conn:
        (accepted,) = await events.accept_many(conn, principal.org_id, [(action, key)], now)
    if accepted.conflict:
        raise _conflict(key, accepted.event_id)
    return JSONResponse({"eventId": accepted.event_id, **QUEUED}, status_code=202)


@router.post("/batch", status_code=202)
async def post_batch(
    request: Request, principal: Principal = Depends(require("actions:write"))
) -> JSONResponse:
    """Up to 100 actions; each gets its own result, in order, and a bad one rejects only itself.

    Idempotency is per item: an item's own ``idempotencyKey``, else, when the request has an
    ``Idempotency-Key`` header, ``<header>:<index>`` (a retried batch maps to the same events).
    """
    header = _header_key(request, longest=250)
    body = await read_json(request, MAX_BATCH * MAX_BODY_BYTES, bounds=None)
    items = body.get("actions") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(
            422,
            "validation_failed",
            "actions: must be a non-empty list of actions",
            [{"field": "actions", "message": "must be a non-empty list of actions"}],
        )
    if len(items) > MAX_BATCH:
        raise ApiError(
            413,
            "batch_too_large",
            f"actions: at most {MAX_BATCH} actions per batch, got {len(items)}",
            [{"field": "actions", "message": f"at most {MAX_BATCH} items"}],
        )
    ensure_fits(request, principal, len(items))
    if len(items) > 1:  # a batch costs one unit per action; the request paid for one
        await charge(request, principal, len(items) - 1)
    now = datetime.now(UTC)
    results: list[dict[str, Any]] = [{} for _ in items]
    valid: list[tuple[int, ActionRequest, str | None]] = []
    declared = request.headers.get("content-length", "")
    measure = not declared.isdigit() or int(declared) > MAX_BODY_BYTES  # else all items fit
    for index, item in enumerate(items):
        try:
            compact = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            if measure and len(compact.encode()) > MAX_BODY_BYTES:
                raise ApiError(
                    413,
                    "payload_too_large",
                    f"body: an action may be at most {MAX_BODY_BYTES} bytes",
                )
            if not isinstance(item, dict):
                raise ApiError(
                    422,
                    "validation_failed",
                    "body: must be a JSON object",
                    [{"field": "body", "message": "must be a JSON object"}],
                )
            action = ActionRequest.model_validate(item)
            await _admit(request, principal.org_id, action, now)
            key = action.idempotencyKey or (f"{header}:{index}" if header else None)
            valid.append((index, action, key))
        except (ValidationError, ApiError) as exc:
            err = from_pydantic(exc) if isinstance(exc, ValidationError) else exc
            results[index] = {
                "index": index,
                "status": err.status,
                "error": {"code": err.code, "message": err.message, "details": err.details},
            }
    if valid:
        async with request.app.state.autocommit.connect() as conn:
            accepted = await events.accept_many(
                conn, principal.org_id, [(action, key) for _, action, key in valid], now
            )
        for (index, _, key), outcome in zip(valid, accepted, strict=True):
            if outcome.conflict:
                err = _conflict(key, outcome.event_id)
                results[index] = {
                    "index": index,
                    "status": 409,
                    "error": {"code": err.code, "message": err.message, "details": err.details},
                }
            else:
                results[index] = {
                    "index": index,
                    "status": 202,
                    "eventId": outcome.event_id,
                    **QUEUED,
                }
    ok = sum(1 for r in results if r["status"] == 202)
    return JSONResponse(
        {"accepted": ok, "rejected": len(results) - ok, "results": results}, status_code=202
    )


@router.get("/{event_id}")
async def get_action(
    event_id: str, request: Request, principal: Principal = Depends(require("actions:write"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        found = await events.describe(conn, principal.org_id, event_id)
    if found is None:
        raise ApiError(404, "not_found", f"event '{event_id}' not found")
    return visible(principal, "event", found)


@router.post("/{event_id}/replay", status_code=202)
async def replay_action(
    event_id: str, request: Request, principal: Principal = Depends(require("admin"))
) -> JSONResponse:
    """Run a finished event again (new run, same workflow ID); nothing is granted twice."""
    state = request.app.state
    try:
        run_id = await replay(
            state.temporal, state.engine, principal.org_id, event_id, state.settings.task_queue
        )
    except RPCError as exc:
        raise ApiError(503, "temporal_unavailable", f"Temporal did not answer: {exc}") from exc
    return JSONResponse(
        {"eventId": event_id, "workflowId": event_id, "runId": run_id, "status": "queued"},
        status_code=202,
    )
