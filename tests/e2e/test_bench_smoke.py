"""The benchmarks' own set-up keeps working as the schema moves (figures live in `make bench`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.matching import allocator, org_with, planner, round_trip
from src.activities.actions import ActionActivities


async def test_matching_bench_runs_at_small_scale(engine: AsyncEngine) -> None:
    org_id = await org_with(engine, total=300, matching=100)
    plan_once = await planner(engine, ActionActivities(engine=engine, max_attempts=1), org_id, 2)
    allocate = await allocator(engine, org_id, "pool_smoke", 10)
    for i in range(2):
        await plan_once(i)  # asserts that all 100 campaigns on the action matched
        await allocate(i)
    await round_trip(engine)(0)
