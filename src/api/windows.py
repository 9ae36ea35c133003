"""In-process moving windows for the rate limits, when no Redis is shared (``make dev``, one
API process). limits' own ``MemoryStorage`` keeps one list entry per unit, prepends each hit
to it (a batch of 100 shifts the whole window 100 times) and, after every hit, walks every key
through a thread to expire old entries: in a loaded process it was a fifth of the API's CPU.
Here a window is a deque of (time, units) hits with a running total, pruned from its old end
whenever it is touched; keys left idle are dropped in one pass a second.

The rule is limits' own (``MovingWindowRateLimiter``): a hit of ``amount`` fits while the
units of the last ``expiry`` seconds plus ``amount`` stay within ``limit``. Each call runs
without awaiting, so concurrent requests of one process take their turns exactly."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from limits.aio.storage import MemoryStorage

SWEEP_SECONDS = 1.0


@dataclass
class _Window:
    expiry: float
    hits: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0

    def prune(self, now: float) -> None:
        cutoff = now - self.expiry
        while self.hits and self.hits[0][0] < cutoff:
            self.total -= self.hits.popleft()[1]


class LocalWindows(MemoryStorage):
    """limits' in-process storage with cheap moving windows (its other counters, which the
    service does not use, are ``MemoryStorage``'s)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.clock = clock
        self.windows: dict[str, _Window] = {}
        self._next_sweep = 0.0

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_SECONDS
        for key, window in list(self.windows.items()):
            window.prune(now)
            if not window.hits:
                del self.windows[key]

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self.clock()
        self._sweep(now)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = _Window(expiry)
        window.prune(now)
        if window.total + amount > limit:
            return False
        window.hits.append((now, amount))
        window.total += amount
        return True

    async def get_moving_window(self, key: str, _limit: int, _expiry: int) -> tuple[float, int]:
        """(the oldest hit's time, or now; the units in the window, whose length it was made
        with)."""
        now = self.clock()
        window = self.windows.get(key)
        if window is None:
            return now, 0
        window.prune(now)
        return (window.hits[0][0] if window.hits else now), window.total

    async def clear(self, key: str) -> None:
        self.windows.pop(key, None)
        await super().clear(key)
