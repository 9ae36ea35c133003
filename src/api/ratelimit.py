"""Rate limits: ``burst`` requests in any second and ``perSecond`` on average over 10 s, per
key and per org (a key's budget lies within its org's); a separate bulk budget for code
imports and generation; and a throttle on failed authentication.

Counters are moving windows (exactly the requests of the last second, or ten), in this process
or in Redis when ``REDIS_URL`` is set so every API process shares them. Only authorised
requests are charged: a 401 or 403 costs the org nothing. Should the counters' store fail
(Redis down), requests are let through uncounted, and logged: limits protect the service,
and an outage of theirs must not become one of the service.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond, WindowStats
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.errors import ApiError
from src.api.windows import LocalWindows
from src.metrics import RATE_LIMITED, org_label

log = logging.getLogger(__name__)
SUSTAINED_WINDOW = 10
CODES_PER_UNIT = 1000  # a bulk unit: codes imported or generated
# Failed authentications a client address, and attempts at one key, may make a minute.
AUTH_ATTEMPTS_PER_ADDRESS = 30
AUTH_ATTEMPTS_PER_KEY = 10


@dataclass(frozen=True)
class Rate:
    per_second: int
    burst: int


class RateLimiter:
    def __init__(self, redis_url: str | None, bulk_codes_per_minute: int) -> None:
        storage: Storage = (
            RedisStorage(redis_url.replace("redis://", "async+redis://", 1))
            if redis_url
            else LocalWindows()
        )
        # A moving window counts exactly the requests of the last second (or ten): what is
        # allowed never depends on where wall-clock second boundaries fall.
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        self._items: dict[Rate, tuple[RateLimitItem, RateLimitItem]] = {}
        self.bulk = RateLimitItemPerMinute(max(1, bulk_codes_per_minute // CODES_PER_UNIT))
        self.auth_by_address = RateLimitItemPerMinute(AUTH_ATTEMPTS_PER_ADDRESS)
        self.auth_by_key = RateLimitItemPerMinute(AUTH_ATTEMPTS_PER_KEY)

    async def _hit(self, item: RateLimitItem, *who: str, cost: int = 1) -> bool:
        try:
            return await self.limiter.hit(item, *who, cost=cost)
        except Exception as exc:  # the counters' store is down: let the request through
            log.warning("rate-limit counters unavailable (%s); not counting", type(exc).__name__)
            return True

    async def _test(self, item: RateLimitItem, *who: str) -> bool:
        try:
            return await self.limiter.test(item, *who)
        except Exception:
            return True

    async def _stats(self, item: RateLimitItem, *who: str) -> WindowStats | None:
        try:
            return await self.limiter.get_window_stats(item, *who)
        except Exception:
            return None

    async def _wait(self, item: RateLimitItem, *who: str) -> int:
        stats = await self._stats(item, *who)
        return 1 if stats is None else max(1, math.ceil(stats.reset_time - time.time()))

    def _windows(self, rate: Rate) -> tuple[RateLimitItem, RateLimitItem]:
        items = self._items.get(rate)
        if items is None:
            items = self._items[rate] = (
                RateLimitItemPerSecond(rate.burst, 1),
                RateLimitItemPerSecond(rate.per_second * SUSTAINED_WINDOW, SUSTAINED_WINDOW),
            )
        return items

    def ensure_fits(self, rate: Rate, cost: int, who: str) -> None:
        """413 for a request that could never fit the budget: no wait would help."""
        for item in self._windows(rate):
            if cost > item.amount:
                raise ApiError(
                    413,
                    "exceeds_rate_limit",
                    f"this request counts {cost} units, more than this {who}'s rate limit "
                    f"allows at once ({item.amount}); send fewer actions per batch",
                )

    async def _take(self, rate: Rate, cost: int, org_id: str, *who: str) -> None:
        for item in self._windows(rate):
            if not await self._hit(item, *who, cost=cost):
                RATE_LIMITED.labels(org_label(org_id), who[0]).inc()
                wait = await self._wait(item, *who)
                sustained = self._windows(rate)[1]
                raise ApiError(
                    429,
                    "rate_limited",
                    f"rate limit of {rate.per_second} requests/s (bursts to {rate.burst}/s) "
                    f"exceeded for this {who[0]}; retry after {wait}s",
                    headers={
                        "Retry-After": str(wait),
                        **_headers(sustained, await self._stats(sustained, *who)),
                    },
                )

    async def charge(
        self, org_id: str, key_id: str, org_rate: Rate, key_rate: Rate, cost: int
    ) -> dict[str, str]:
        """Take ``cost`` units from the key's budget, then the org's, or raise 429; returns the
        org's X-RateLimit-* headers. A key over its budget costs the org nothing."""
        await self._take(key_rate, cost, org_id, "key", key_id)
        await self._take(org_rate, cost, org_id, "organisation", org_id)
        sustained = self._windows(org_rate)[1]
        return _headers(sustained, await self._stats(sustained, "organisation", org_id))

    async def charge_bulk(self, org_id: str, codes: int) -> None:
        """Code imports and generation: one unit per 1,000 codes, from a per-minute budget of
        their own, so bulk work neither starves nor is starved by actions."""
        units = max(1, math.ceil(codes / CODES_PER_UNIT))
        if units > self.bulk.amount:
            raise ApiError(
                413,
                "exceeds_bulk_budget",
                f"{codes} codes exceed what this organisation may import or generate in a "
                f"minute ({self.bulk.amount * CODES_PER_UNIT}); send them in parts",
            )
        if not await self._hit(self.bulk, "bulk", org_id, cost=units):
            RATE_LIMITED.labels(org_label(org_id), "bulk").inc()
            wait = await self._wait(self.bulk, "bulk", org_id)
            raise ApiError(
                429,
                "bulk_rate_limited",
                f"this organisation may import or generate {self.bulk.amount * CODES_PER_UNIT} "
                f"codes a minute; retry after {wait}s",
                headers={"Retry-After": str(wait)},
            )

    async def auth_refused(self, address: str, key_hint: str | None) -> int | None:
        """Seconds to wait when this address, or the key a secret names, failed to
        authenticate too often lately; checked before any database work."""
        for item, who in ((self.auth_by_address, address), (self.auth_by_key, key_hint)):
            if who is not None and not await self._test(item, "auth", who):
                return await self._wait(item, "auth", who)
        return None

    async def verified(self, digest: str, seconds: float) -> None:
        """Remember a secret that verified, for ``seconds``: beside the process' own memory
        of it, in the counters' store, so with Redis it is exempt from the throttle in every
        API process and after a restart."""
        try:
            await self.storage.incr(f"verified/{digest}", math.ceil(seconds))
        except Exception as exc:
            log.warning("rate-limit store unavailable (%s)", type(exc).__name__)

    async def verified_lately(self, digest: str) -> bool:
        try:
            return await self.storage.get(f"verified/{digest}") > 0
        except Exception:
            return False

    async def unverified(self, digest: str) -> None:
        """A secret that no longer verifies (revoked, expired) loses its exemption."""
        try:
            await self.storage.clear(f"verified/{digest}")
        except Exception as exc:
            log.warning("rate-limit store unavailable (%s)", type(exc).__name__)

    async def auth_failed(self, address: str, key_hint: str | None) -> None:
        await self._hit(self.auth_by_address, "auth", address)
        if key_hint is not None:
            await self._hit(self.auth_by_key, "auth", key_hint)


def _headers(item: RateLimitItem, stats: WindowStats | None) -> dict[str, str]:
    """Counts are of the sustained 10-second window; Reset is when it frees up (epoch s)."""
    if stats is None:
        return {}
    return {
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(max(0, stats.remaining)),
        "X-RateLimit-Reset": str(math.ceil(stats.reset_time)),
    }


class RateLimitHeaders:
    """ASGI middleware: adds the headers an authenticated request's charge produced."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get("rate_headers")
                if extra:
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.lower().encode(), v.encode()) for k, v in extra.items()),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
