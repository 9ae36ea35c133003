"""The in-process moving windows decide as limits' rule says, hit for hit: checked against a
model that keeps every hit and counts the last ``expiry`` seconds' units each time."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter

from src.api.windows import SWEEP_SECONDS, LocalWindows


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


# (seconds since the last hit, which of two keys, units)
HITS = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3, allow_nan=False),
        st.sampled_from(["a", "b"]),
        st.integers(min_value=1, max_value=12),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(hits=HITS, limit=st.integers(min_value=1, max_value=20), expiry=st.sampled_from([1, 2]))
def test_every_hit_is_judged_as_the_moving_window_rule_says(
    hits: list[tuple[float, str, int]], limit: int, expiry: int
) -> None:
    async def run() -> None:
        clock = Clock()
        storage = LocalWindows(clock)
        limiter = MovingWindowRateLimiter(storage)
        item = RateLimitItemPerSecond(limit, expiry)
        granted: dict[str, list[tuple[float, int]]] = {"a": [], "b": []}
        for gap, who, units in hits:
            clock.now += gap
            held = sum(n for t, n in granted[who] if t >= clock.now - expiry)
            fits = held + units <= limit
            assert await limiter.hit(item, who, cost=units) is fits
            if fits:
                granted[who].append((clock.now, units))
                held += units
            stats = await limiter.get_window_stats(item, who)
            assert stats.remaining == limit - held

    asyncio.run(run())


def test_idle_keys_are_dropped_and_a_cleared_key_starts_empty() -> None:
    async def run() -> None:
        clock = Clock()
        storage = LocalWindows(clock)
        for who in range(100):
            assert await storage.acquire_entry(f"k{who}", 5, 1, 5)
        assert not await storage.acquire_entry("k0", 5, 1)
        clock.now += 1 + SWEEP_SECONDS
        assert await storage.acquire_entry("fresh", 5, 1)
        assert list(storage.windows) == ["fresh"]  # the idle hundred are gone
        await storage.clear("fresh")
        assert await storage.get_moving_window("fresh", 5, 1) == (clock.now, 0)

    asyncio.run(run())
