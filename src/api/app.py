"""API composition root: one engine and one Temporal client per process, made in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from src.api import errors
from src.api.cache import TTLCache
from src.api.invalidation import listen
from src.api.ratelimit import RateLimiter, RateLimitHeaders
from src.api.routers import (
    actions,
    analytics,
    api_keys,
    campaigns,
    code_pools,
    org,
    products,
    simulate,
    transactions,
    triggers,
    users,
)
from src.config import Settings, get_settings
from src.store.db import make_engine
from src.workflows.client import connect

READINESS_SECONDS = 1.0
KNOWN_KEY_SECONDS = 12 * 3600.0
VERIFYING_AT_ONCE = 8  # database look-ups of uncached secrets in flight per process


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = make_engine(settings.require_database_url(), settings.db_pool_size)
        # Same pool; for single-statement writes that need no transaction block.
        app.state.autocommit = app.state.engine.execution_options(isolation_level="AUTOCOMMIT")
        app.state.key_cache = TTLCache(settings.key_cache_seconds)
        app.state.known_keys = TTLCache(KNOWN_KEY_SECONDS)  # exempt from the auth throttle
        app.state.verify_gate = asyncio.Semaphore(VERIFYING_AT_ONCE)
        app.state.trigger_cache = TTLCache(settings.key_cache_seconds)
        notices = asyncio.create_task(
            listen(
                settings.require_database_url(),
                {"keys": app.state.key_cache, "triggers": app.state.trigger_cache},
            )
        )
        app.state.readiness = None
        app.state.checking = None
        app.state.rate_limiter = RateLimiter(settings.redis_url, settings.bulk_codes_per_minute)
        app.state.temporal = await connect(settings, lazy=True)
        # Start-up objects live as long as the process: keep them out of every GC pass.
        gc.freeze()
        try:
            yield
        finally:
            notices.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notices
            await app.state.engine.dispose()

    app = FastAPI(title="Loyalty Engine", version=version("loyalty-engine"), lifespan=lifespan)
    errors.install(app)
    app.add_middleware(RateLimitHeaders)
    for module in (
        actions,
        transactions,
        users,
        campaigns,
        triggers,
        products,
        code_pools,
        org,
        api_keys,
        simulate,
        analytics,
    ):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
        """The database and Temporal both answer within two seconds. Unauthenticated, so the
        verdict is kept for a second: probes cannot make it cost the backends more."""
        state = request.app.state
        cached: tuple[float, dict[str, Any]] | None = state.readiness
        if cached is None or time.monotonic() - cached[0] > READINESS_SECONDS:
            if state.checking is None or state.checking.done():  # one check at a time
                state.checking = asyncio.create_task(_readiness(request))
            cached = (time.monotonic(), await asyncio.shield(state.checking))
            state.readiness = cached
        body = cached[1]
        return body if body["status"] == "ok" else JSONResponse(body, status_code=503)

    async def _readiness(request: Request) -> dict[str, Any]:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                async with request.app.state.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            await request.app.state.temporal.service_client.check_health(
                timeout=timedelta(seconds=2)
            )
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ready else "unavailable", "checks": checks}

    return app


def app_from_env() -> FastAPI:
    """Factory for multi-process serving (``API_WORKERS`` > 1): each process builds its own."""
    return create_app(get_settings())
