"""Per-org rate limits: ``burst`` requests in any second, ``perSecond`` on average over 10 s.

Counters live in this process, or in Redis when ``REDIS_URL`` is set so every API process
shares them. A batch costs one unit per action.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerSecond, WindowStats
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.errors import ApiError

SUSTAINED_WINDOW = 10


@dataclass(frozen=True)
class Rate:
    per_second: int
    burst: int


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        storage: Storage = (
            RedisStorage(redis_url.replace("redis://", "async+redis://", 1))
            if redis_url
            else MemoryStorage()
        )
        # A moving window counts exactly the requests of the last second (or ten): what is
        # allowed never depends on where wall-clock second boundaries fall.
        self.limiter = MovingWindowRateLimiter(storage)
        self._items: dict[Rate, tuple[RateLimitItem, RateLimitItem]] = {}

    def _windows(self, rate: Rate) -> tuple[RateLimitItem, RateLimitItem]:
        items = self._items.get(rate)
        if items is None:
            items = self._items[rate] = (
                RateLimitItemPerSecond(rate.burst, 1),
                RateLimitItemPerSecond(rate.per_second * SUSTAINED_WINDOW, SUSTAINED_WINDOW),
            )
        return items

    async def charge(self, org_id: str, rate: Rate, cost: int) -> dict[str, str]:
        """Take ``cost`` units or raise 429; returns the X-RateLimit-* headers."""
        burst, sustained = self._windows(rate)
        for item in (burst, sustained):
            if not await self.limiter.hit(item, org_id, cost=cost):
                stats = await self.limiter.get_window_stats(item, org_id)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"rate limit of {rate.per_second} requests/s (bursts to {rate.burst}/s) "
                    f"exceeded for this organisation; retry after {wait}s",
                    headers={"Retry-After": str(wait), **_headers(sustained, stats)},
                )
        return _headers(sustained, await self.limiter.get_window_stats(sustained, org_id))


def _headers(item: RateLimitItem, stats: WindowStats) -> dict[str, str]:
    """Counts are of the sustained 10-second window; Reset is when it frees up (epoch s)."""
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


async def charge(request: Request, org_id: str, rate: Rate, cost: int = 1) -> None:
    """Charge the org and remember the headers for the response."""
    limiter: RateLimiter = request.app.state.rate_limiter
    request.state.rate_headers = await limiter.charge(org_id, rate, cost)
