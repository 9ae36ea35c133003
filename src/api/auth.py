"""API-key authentication: ``Authorization: Bearer <secret>`` + ``X-Monterosa-Org-ID``.

401 for missing or wrong credentials, 403 for a valid key used on another org or without
the scope. Verified keys are cached briefly so a request costs no database read.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from src.api.cache import TTLCache
from src.api.errors import ApiError
from src.api.ratelimit import Rate, charge
from src.store import orgs
from src.store.orgs import KeyRecord


@dataclass(frozen=True)
class Principal:
    org_id: str
    key_id: str
    scopes: frozenset[str]
    rate: Rate


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("missing 'Authorization: Bearer <API secret>' header")
    org_id = request.headers.get("x-monterosa-org-id", "").strip()
    if not org_id:
        raise _unauthorized("missing 'X-Monterosa-Org-ID' header")
    secret = secret.strip()
    cache: TTLCache[str, KeyRecord] = request.app.state.key_cache
    digest = orgs.digest(secret)
    _, record = cache.get(digest)
    if record is None:
        generation = cache.generation
        async with request.app.state.engine.connect() as conn:
            record = await orgs.find_key(conn, secret)
        if record is None:
            raise _unauthorized("invalid API secret")
        cache.put(digest, record, generation)
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        raise _unauthorized("API secret has expired")
    if not hmac.compare_digest(record.org_id.lower(), org_id.lower()):
        raise ApiError(
            403,
            "forbidden",
            "this API key does not belong to the organisation in X-Monterosa-Org-ID",
        )
    settings = request.app.state.settings
    override = record.rate_limit or {}
    rate = Rate(
        per_second=int(override.get("perSecond", settings.rate_limit_per_second)),
        burst=int(override.get("burst", settings.rate_limit_burst)),
    )
    await charge(request, record.org_id, rate)
    return Principal(org_id=record.org_id, key_id=record.id, scopes=record.scopes, rate=rate)


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency: an authenticated principal holding ``scope`` (``admin`` holds every scope)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise ApiError(403, "forbidden", f"this API key lacks the '{scope}' scope")
        return principal

    return dependency
