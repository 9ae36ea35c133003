"""HTTP load: open loop at an offered rate (latency from the scheduled send time, so a slow
server cannot hide its queueing) and closed loop at a fixed concurrency (the maximum)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Result:
    sent: int
    accepted: int
    seconds: float
    latencies: list[float]
    items_per_request: int = 1

    @property
    def rate(self) -> float:
        return self.accepted * self.items_per_request / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def row(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "per_second": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2)
            if self.latencies
            else None,
        }


Body = Callable[[int], Any]


async def open_loop(
    session: aiohttp.ClientSession, url: str, body: Body, rate: float, seconds: float
) -> Result:
    total = int(rate * seconds)
    start = time.perf_counter()
    latencies: list[float] = []
    accepted = 0

    async def one(i: int, scheduled: float) -> None:
        nonlocal accepted
        async with session.post(url, json=body(i)) as reply:
            await reply.read()
            if reply.status == 202:
                accepted += 1
        latencies.append(time.perf_counter() - scheduled)

    # Each request is launched when it is due (not all parked up front), so the generator's
    # own timer queue stays small; latency still counts from the due time.
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    return Result(total, accepted, time.perf_counter() - start, latencies)


async def closed_loop(
    session: aiohttp.ClientSession,
    url: str,
    body: Body,
    concurrency: int,
    seconds: float,
    items_per_request: int = 1,
) -> Result:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    counts = {"sent": 0, "accepted": 0}

    async def client() -> None:
        while time.perf_counter() < deadline:
            i = counts["sent"]
            counts["sent"] += 1
            t0 = time.perf_counter()
            async with session.post(url, json=body(i)) as reply:
                await reply.read()
                if reply.status == 202:
                    counts["accepted"] += 1
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Result(
        counts["sent"],
        counts["accepted"],
        time.perf_counter() - start,
        latencies,
        items_per_request,
    )
