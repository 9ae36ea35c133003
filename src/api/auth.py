"""API-key authentication: ``Authorization: Bearer <secret>`` + ``X-Monterosa-Org-ID``.

401 for missing or wrong credentials, 403 for a valid key used on another org or without the
scope. Verified keys are cached briefly so a request costs no database read.

Failed authentication is throttled before any database work: so many failures a minute per
client address and per key a secret names; and uncached secrets are looked up a few at a
time. A secret that verified in the last hours (``known_keys``, kept apart from the key
cache, and in Redis where it is configured, so it outlives a restart) is never refused by the
throttle, so one integrator's bad secrets, or a stranger's guesses at a key ID, cannot lock
out others behind the same proxy.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from fastapi import Request

from src.api.errors import ApiError
from src.api.ratelimit import Rate
from src.api.state import state
from src.domain.scopes import holds
from src.metrics import RATE_LIMITED
from src.services import keys
from src.services.keys import KeyRecord


@dataclass(frozen=True)
class Principal:
    org_id: str
    key_id: str
    scopes: frozenset[str]
    rate: Rate  # the org's budget
    key_rate: Rate  # this key's, within the org's
    lineage: str  # the key's rotation chain: events it posts are its own to reverse

    def holds(self, scope: str) -> bool:
        return holds(self.scopes, scope)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _rate(override: dict[str, int] | None, default: Rate) -> Rate:
    override = override or {}
    return Rate(
        per_second=int(override.get("perSecond", default.per_second)),
        burst=int(override.get("burst", default.burst)),
    )


async def _verify(request: Request, secret: str) -> KeyRecord:
    """The live key for ``secret``: from the cache, or (unless this client is throttled) the
    database."""
    made = state(request)
    cache = made.key_cache
    digest = keys.digest(secret)
    _, record = cache.get(digest)
    if record is not None:
        return record
    known = made.known_keys
    limiter = made.rate_limiter
    address = request.client.host if request.client else "unknown"
    hint = keys.key_hint(secret)
    if not known.get(digest)[0] and not await limiter.verified_lately(digest):
        wait = await limiter.auth_refused(address, hint)
        if wait is not None:
            RATE_LIMITED.labels("none", "authentication").inc()  # no org: not authenticated
            raise ApiError(
                429,
                "too_many_failed_authentications",
                f"too many failed authentications; retry after {wait}s",
                headers={"Retry-After": str(wait)},
            )
    generation = cache.generation
    async with made.verify_gate:
        record = await keys.find(made.engine, secret)
    if record is None:
        known.drop(digest)
        await limiter.unverified(digest)
        await limiter.auth_failed(address, hint)
        raise _unauthorized("invalid API secret")
    cache.put(digest, record, generation)
    if not known.get(digest)[0]:
        await limiter.verified(digest, known.ttl)
    known.put(digest, True, known.generation)
    return record


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("missing 'Authorization: Bearer <API secret>' header")
    org_id = request.headers.get("x-monterosa-org-id", "").strip()
    if not org_id:
        raise _unauthorized("missing 'X-Monterosa-Org-ID' header")
    record = await _verify(request, secret.strip())
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        raise _unauthorized("API secret has expired")
    if not hmac.compare_digest(record.org_id.lower(), org_id.lower()):
        raise ApiError(
            403,
            "forbidden",
            "this API key does not belong to the organisation in X-Monterosa-Org-ID",
        )
    request.state.org_id = record.org_id  # for the access log line
    structlog.contextvars.bind_contextvars(orgId=record.org_id)
    settings = state(request).settings
    org_rate = _rate(
        record.rate_limit, Rate(settings.rate_limit_per_second, settings.rate_limit_burst)
    )
    return Principal(
        org_id=record.org_id,
        key_id=record.id,
        scopes=record.scopes,
        rate=org_rate,
        key_rate=_rate(record.key_rate_limit, org_rate),
        lineage=record.lineage,
    )


def ensure_fits(request: Request, principal: Principal, cost: int) -> None:
    """413 when ``cost`` units could never fit the key's or its org's budget."""
    limiter = state(request).rate_limiter
    limiter.ensure_fits(principal.key_rate, cost, "key")
    limiter.ensure_fits(principal.rate, cost, "organisation")


async def charge(request: Request, principal: Principal, cost: int = 1) -> None:
    """Charge the key and its org ``cost`` units and remember the headers for the reply."""
    limiter = state(request).rate_limiter
    request.state.rate_headers = await limiter.charge(
        principal.org_id, principal.key_id, principal.rate, principal.key_rate, cost
    )
