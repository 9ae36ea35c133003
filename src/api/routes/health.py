"""Probes: ``/healthz`` (the process is up) and ``/readyz`` (its backends answer)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from src.api.schemas.common import Schema
from src.api.state import AppState, state

router = APIRouter(tags=["health"])
READINESS_SECONDS = 1.0


class Health(Schema):
    status: Literal["ok"]


class Readiness(Schema):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, operation_id="healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    operation_id="readyz",
    responses={503: {"model": Readiness, "description": "A backend did not answer."}},
)
async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
    """The database and Temporal both answer within two seconds. Unauthenticated, so the
    verdict is kept for a second: probes cannot make it cost the backends more."""
    made = state(request)
    readiness = made.readiness
    cached = readiness.verdict
    if cached is None or time.monotonic() - cached[0] > READINESS_SECONDS:
        if readiness.checking is None or readiness.checking.done():  # one check at a time
            readiness.checking = asyncio.create_task(_readiness(made))
        cached = (time.monotonic(), await asyncio.shield(readiness.checking))
        readiness.verdict = cached
    body = cached[1]
    return body if body["status"] == "ok" else JSONResponse(body, status_code=503)


async def _readiness(made: AppState) -> dict[str, Any]:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with made.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await made.temporal.service_client.check_health(timeout=timedelta(seconds=2))
        checks["temporal"] = "ok"
    except Exception as exc:
        checks["temporal"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}
