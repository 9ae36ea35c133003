"""Event ingestion, exactly as the integration guide shows it, plus batches, reads and replay.

The two ingestion routes read their bodies themselves (the hot path: no second pass over the
body) and publish the same models in OpenAPI.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from src import tracing
from src.api.auth import charge, ensure_fits
from src.api.body import parse, read_json
from src.api.deps import ActionsWrite, Admin, EngineDep, IngestDep, RunsDep
from src.api.errors import ApiError, status_of
from src.api.schemas.actions import (
    QUEUED_MESSAGE,
    SEND_ACTION_ERRORS,
    Accepted,
    ActionBody,
    BatchBody,
    BatchOut,
    EventOut,
    ReplayOut,
    ReversalOut,
    ReverseBody,
)
from src.api.schemas.common import errors, request_body
from src.api.scopes import visible
from src.domain.actions import MAX_BATCH, MAX_BODY_BYTES
from src.domain.errors import DomainError, Invalid, present
from src.metrics import ACCEPTED, org_label
from src.services import replay, reversals

router = APIRouter(prefix="/api/audience/internal/actions", tags=["actions"])


KEY_LONGEST = 255
BATCH_KEY_LONGEST = KEY_LONGEST - 5  # room for the ``:<index>`` each item's key adds


def _header_key(request: Request, longest: int = KEY_LONGEST) -> str | None:
    header = request.headers.get("idempotency-key")
    if header is not None and not 1 <= len(header) <= longest:
        raise Invalid.field("Idempotency-Key", f"must be 1-{longest} characters")
    return header


def _key_header(longest: int, what: str) -> dict[str, Any]:
    """The ``Idempotency-Key`` header as an OpenAPI parameter (``_header_key`` reads it)."""
    schema = {"type": "string", "minLength": 1, "maxLength": longest}
    return {"name": "Idempotency-Key", "in": "header", "description": what, "schema": schema}


def _idempotency_key(request: Request, action: ActionBody) -> str | None:
    header = _header_key(request)
    if header and action.idempotency_key and header != action.idempotency_key:
        raise Invalid(
            "idempotencyKey: differs from the Idempotency-Key header",
            [{"field": "idempotencyKey", "message": "differs from the header"}],
        )
    return header or action.idempotency_key


def _queued(event_id: str) -> dict[str, Any]:
    """``Accepted`` on the wire, written out: this is the hot path."""
    return {"eventId": event_id, "processed": False, "message": QUEUED_MESSAGE}


def _refused(index: int, error: DomainError | ApiError) -> dict[str, Any]:
    status = error.status if isinstance(error, ApiError) else status_of(error)
    detail = {"code": error.code, "message": error.message, "details": error.details}
    return {"index": index, "status": status, "error": detail}


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    operation_id="sendAction",
    responses=errors(400, 409, 413, 422, examples=SEND_ACTION_ERRORS),
    openapi_extra={
        **request_body(ActionBody),
        "parameters": [
            _key_header(KEY_LONGEST, "A retry with the same key returns the first event.")
        ],
    },
)
async def post_action(request: Request, principal: ActionsWrite, ingest: IngestDep) -> JSONResponse:
    """The guide's "Send User Actions": queue one action for processing.

    An ``Idempotency-Key`` header (or the body's ``idempotencyKey``) makes a retry return the
    first event; the same key with a different body is a 409 naming it.
    """
    action = await parse(request, ActionBody, bounds=None)
    now = datetime.now(UTC)
    await ingest.admit(principal.org_id, action, now)
    key = _idempotency_key(request, action)
    (outcome,) = await ingest.accept(
        principal.org_id,
        [(action, key)],
        now,
        tracing.current_parent(),
        reveal_events=principal.holds("actions:read"),
        key_lineage=principal.lineage,
    )
    if outcome.error is not None:
        raise outcome.error
    event_id = present(outcome.event_id, "an accepted action's event ID")
    ACCEPTED.labels(org_label(principal.org_id)).inc()
    return JSONResponse(_queued(event_id), status_code=202)


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchOut,
    operation_id="sendActions",
    responses=errors(400, 413, 422),
    openapi_extra={
        **request_body(BatchBody),
        "parameters": [
            _key_header(BATCH_KEY_LONGEST, "Item i's key, unless it has its own: `<key>:i`.")
        ],
    },
)
async def post_batch(request: Request, principal: ActionsWrite, ingest: IngestDep) -> JSONResponse:
    """Up to 100 actions; each gets its own result, in order, and a bad one rejects only itself.

    Idempotency is per item: an item's own ``idempotencyKey``, else, when the request has an
    ``Idempotency-Key`` header, ``<header>:<index>`` (a retried batch maps to the same events).
    Each action costs one unit of the rate limits.
    """
    header = _header_key(request, longest=BATCH_KEY_LONGEST)
    body = await read_json(request, MAX_BATCH * MAX_BODY_BYTES, bounds=None)
    items = body.get("actions") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise Invalid.field("actions", "must be a non-empty list of actions")
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
    valid: list[tuple[int, ActionBody, str | None]] = []
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
                raise Invalid.field("body", "must be a JSON object")
            action = ActionBody.model_validate(item)
            await ingest.admit(principal.org_id, action, now)
            key = action.idempotency_key or (f"{header}:{index}" if header else None)
            valid.append((index, action, key))
        except ValidationError as exc:
            results[index] = _refused(index, Invalid.of(exc))
        except (DomainError, ApiError) as exc:
            results[index] = _refused(index, exc)
    if valid:
        outcomes = await ingest.accept(
            principal.org_id,
            [(action, key) for _, action, key in valid],
            now,
            tracing.current_parent(),
            reveal_events=principal.holds("actions:read"),
            key_lineage=principal.lineage,
        )
        for (index, _, _), outcome in zip(valid, outcomes, strict=True):
            if outcome.error is not None:
                results[index] = _refused(index, outcome.error)
            else:
                event_id = present(outcome.event_id, "an accepted action's event ID")
                results[index] = {"index": index, "status": 202, **_queued(event_id)}
    ok = sum(1 for r in results if r["status"] == 202)
    ACCEPTED.labels(org_label(principal.org_id)).inc(ok)
    return JSONResponse(
        {"accepted": ok, "rejected": len(results) - ok, "results": results}, status_code=202
    )


@router.get(
    "/{event_id}",
    response_model=EventOut,
    operation_id="getAction",
    responses=errors(404),
)
async def get_action(event_id: str, principal: ActionsWrite, ingest: IngestDep) -> dict[str, Any]:
    """The event, its status and each planned effect's outcome (the guide's "verify
    processing")."""
    found = await ingest.describe(principal.org_id, event_id)
    return visible(principal, "event", EventOut.of(found))


@router.post(
    "/{event_id}/replay",
    status_code=202,
    response_model=ReplayOut,
    operation_id="replayAction",
    responses=errors(404, 409),
)
async def replay_action(
    event_id: str, principal: Admin, engine: EngineDep, runs: RunsDep
) -> ReplayOut:
    """Run a finished event again (new run, same workflow ID); nothing is granted twice."""
    run_id = await replay.replay(runs, engine, principal.org_id, event_id)
    return ReplayOut(event_id=event_id, workflow_id=event_id, run_id=run_id)


@router.post(
    "/{event_id}/reverse",
    status_code=202,
    response_model=ReversalOut,
    operation_id="reverseAction",
    responses=errors(404, 409, 422),
)
async def reverse_action(
    event_id: str,
    request: Request,
    principal: ActionsWrite,
    engine: EngineDep,
    runs: RunsDep,
    body: Annotated[ReverseBody | None, Body()] = None,
) -> dict[str, Any]:
    """Take back what the event granted (a refund): points, products and codes, exactly once,
    by a ReverseAction workflow; in part with ``amount`` (its share of the action's
    ``data.amount`` of each points grant). Send an ``Idempotency-Key`` to retry a partial
    reversal safely; a reversal in full is one reversal however often it is asked for. Only
    events this key (or the key it was rotated from) posted are found, unless it holds
    ``actions:reverse``."""
    wanted = body or ReverseBody()
    found = await reversals.request(
        engine,
        runs,
        principal.org_id,
        event_id,
        wanted.amount,
        wanted.reason,
        _header_key(request),
        poster=None if principal.holds("actions:reverse") else principal.lineage,
    )
    return visible(principal, "reversal", ReversalOut.of(found))
