"""API composition root: one engine and one Temporal client per process, made in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI

from src import tracing
from src.api import errors
from src.api.access_log import AccessLog
from src.api.body import BodyLimit
from src.api.invalidation import listen
from src.api.ratelimit import RateLimiter, RateLimitHeaders
from src.api.routes import (
    actions,
    api_keys,
    backtests,
    campaigns,
    code_pools,
    health,
    ledger,
    notifications,
    org,
    products,
    simulate,
    triggers,
    users,
    webhooks,
)
from src.api.schemas.common import publish
from src.api.state import AppState, Readiness
from src.config import Settings, get_settings
from src.domain.actions import MAX_BATCH, MAX_BODY_BYTES
from src.domain.triggers import TriggerDefinition
from src.logs import configure
from src.services.ingest import Ingest
from src.services.keys import KeyRecord
from src.store.cache import TTLCache
from src.store.campaigns import parsed_versions
from src.store.db import make_engine
from src.workflows.client import connect
from src.workflows.starter import TemporalRuns

KNOWN_KEY_SECONDS = 12 * 3600.0
VERIFYING_AT_ONCE = 8  # database look-ups of uncached secrets in flight per process


def _key_owner(_digest: str, record: KeyRecord) -> tuple[str, str]:
    return record.org_id, record.id


def _trigger_owner(key: tuple[str, str], _definition: TriggerDefinition | None) -> tuple[str, str]:
    return key  # (org ID, action)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.require_database_url(), settings.db_pool_size)
        tracing.instrument_engine(engine, settings)
        key_cache: TTLCache[str, KeyRecord] = TTLCache(settings.key_cache_seconds, _key_owner)
        trigger_cache: TTLCache[tuple[str, str], TriggerDefinition | None] = TTLCache(
            settings.key_cache_seconds, _trigger_owner
        )
        notices = asyncio.create_task(
            listen(settings.require_database_url(), {"keys": key_cache, "triggers": trigger_cache})
        )
        temporal = await connect(settings, lazy=True)
        app.state.made = AppState(
            settings=settings,
            engine=engine,
            temporal=temporal,
            key_cache=key_cache,
            known_keys=TTLCache(KNOWN_KEY_SECONDS),
            verify_gate=asyncio.Semaphore(VERIFYING_AT_ONCE),
            trigger_cache=trigger_cache,
            rate_limiter=RateLimiter(settings.redis_url, settings.bulk_codes_per_minute),
            ingest=Ingest(engine, trigger_cache),
            runs=TemporalRuns(temporal, settings.task_queue, settings.backtest_heartbeat_seconds),
            sealer=settings.sealer(),
            readiness=Readiness(),
            parsed_versions=parsed_versions(),
        )
        # Start-up objects live as long as the process: keep them out of every GC pass.
        gc.freeze()
        try:
            yield
        finally:
            notices.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notices
            await engine.dispose()

    app = FastAPI(title="Loyalty Engine", version=version("loyalty-engine"), lifespan=lifespan)
    errors.install(app)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        BodyLimit,
        default=MAX_BODY_BYTES,
        limits={
            "/api/audience/internal/actions/batch": MAX_BATCH * MAX_BODY_BYTES,
            "/v1/code-pools/[^/]+/codes": code_pools.IMPORT_BYTES,
        },
    )
    app.add_middleware(AccessLog)  # outermost: it times and logs every reply, 413s included
    for module in (
        actions,
        ledger,
        users,
        campaigns,
        backtests,
        triggers,
        products,
        code_pools,
        org,
        api_keys,
        simulate,
        webhooks,
        health,
    ):
        app.include_router(module.router)
    app.webhooks.include_router(notifications.router)
    tracing.instrument_app(app, settings)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return publish(generate())

    app.openapi = openapi  # type: ignore[method-assign]

    return app


def app_from_env() -> FastAPI:
    """Factory for multi-process serving (``API_WORKERS`` > 1): each process builds its own
    (and sets up its own logging: a spawned process inherits none)."""
    settings = get_settings()
    configure(settings.log_level, settings.log_format)
    return create_app(settings)
