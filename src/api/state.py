"""What one API process makes at start-up and every request reads: one typed object on
``app.state``, so a route asks for a field by name and the type checker knows what it gets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from temporalio.client import Client

from src.api.ratelimit import RateLimiter
from src.config import Settings
from src.domain.sealing import Sealer
from src.domain.triggers import TriggerDefinition
from src.services.ingest import Ingest
from src.store.cache import TTLCache
from src.store.campaigns import Parsed
from src.store.keys import KeyRecord
from src.workflows.starter import TemporalRuns

Verdict = dict[str, Any]


@dataclass
class Readiness:
    """The last ``/readyz`` verdict and when it was made, and the check under way, if any."""

    verdict: tuple[float, Verdict] | None = None
    checking: asyncio.Task[Verdict] | None = None


@dataclass(frozen=True)
class AppState:
    settings: Settings
    engine: AsyncEngine
    temporal: Client
    # Verified secrets by digest; a key change drops them at once here, elsewhere on notice.
    key_cache: TTLCache[str, KeyRecord]
    # Digests verified lately: exempt from the throttle on failed authentication.
    known_keys: TTLCache[str, bool]
    # Database look-ups of uncached secrets in flight.
    verify_gate: asyncio.Semaphore
    trigger_cache: TTLCache[tuple[str, str], TriggerDefinition | None]
    rate_limiter: RateLimiter
    ingest: Ingest
    runs: TemporalRuns
    # Seals secrets the service reads back (webhook signing secrets) with the payload keys.
    sealer: Sealer
    readiness: Readiness
    # Campaign versions this process has parsed (simulations).
    parsed_versions: Parsed


def state(request: Request) -> AppState:
    """The process' state, as the lifespan stored it."""
    made: AppState = request.app.state.made
    return made
