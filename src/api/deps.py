"""Dependencies of the routes: what the process made at start-up (engine, settings, the
ingestion service, the workflow runs), and the caller, authenticated, authorised for a scope
and charged to its rate limits (in that order)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from src.api.auth import Principal, authenticate, charge
from src.api.errors import ApiError
from src.api.ratelimit import RateLimiter
from src.api.state import state
from src.config import Settings
from src.domain.sealing import Sealer
from src.services.ingest import Ingest
from src.store.cache import TTLCache
from src.store.keys import KeyRecord
from src.workflows.starter import TemporalRuns


async def _engine(request: Request) -> AsyncEngine:
    return state(request).engine


async def _settings(request: Request) -> Settings:
    return state(request).settings


async def _ingest(request: Request) -> Ingest:
    return state(request).ingest


async def _runs(request: Request) -> TemporalRuns:
    return state(request).runs


async def _sealer(request: Request) -> Sealer:
    return state(request).sealer


async def _limiter(request: Request) -> RateLimiter:
    return state(request).rate_limiter


async def _key_cache(request: Request) -> TTLCache[str, KeyRecord]:
    return state(request).key_cache


EngineDep = Annotated[AsyncEngine, Depends(_engine)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]
# This process' verified keys: a change drops them at once here (other processes on notice).
KeyCacheDep = Annotated[TTLCache[str, KeyRecord], Depends(_key_cache)]
SettingsDep = Annotated[Settings, Depends(_settings)]
IngestDep = Annotated[Ingest, Depends(_ingest)]
RunsDep = Annotated[TemporalRuns, Depends(_runs)]
# Seals secrets the service reads back (webhook signing secrets) with the payload keys.
SealerDep = Annotated[Sealer, Depends(_sealer)]
Authenticated = Annotated[Principal, Depends(authenticate)]


def _allowed(scope: str) -> Callable[[Request, Principal], Awaitable[Principal]]:
    """The authenticated caller, refused unless it holds ``scope``, then charged one unit of
    its rate limits (a 401 or 403 costs nothing)."""

    async def rate_limited(request: Request, principal: Authenticated) -> Principal:
        if not principal.holds(scope):
            raise ApiError(403, "forbidden", f"this API key lacks the '{scope}' scope")
        await charge(request, principal)
        return principal

    return rate_limited


ActionsWrite = Annotated[Principal, Depends(_allowed("actions:write"))]
UsersRead = Annotated[Principal, Depends(_allowed("users:read"))]
UsersWrite = Annotated[Principal, Depends(_allowed("users:write"))]
UsersAdmin = Annotated[Principal, Depends(_allowed("users:admin"))]
CampaignsRead = Annotated[Principal, Depends(_allowed("campaigns:read"))]
CampaignsWrite = Annotated[Principal, Depends(_allowed("campaigns:write"))]
TransactionsRead = Annotated[Principal, Depends(_allowed("transactions:read"))]
Admin = Annotated[Principal, Depends(_allowed("admin"))]
