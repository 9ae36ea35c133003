"""Matching and allocation cost must grow with what matches, not with what exists.

Seeds one org with 100 active campaigns on the benchmarked action and one with 10,000 (the same
100 plus 9,900 on other actions), times the plan activity for each, and times code allocation
from a 1,000-code pool against a 1,000,000-code pool, all in one run on one database.
Writes bench/results/matching.json.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.run import RESULTS, fresh_database, postgres_server
from src.activities.actions import ActionActivities
from src.domain.actions import ActionInput, ActionRequest
from src.domain.effects import EffectRequest, PlannedEffect
from src.services import grants
from src.store import events, orgs, users
from src.store.db import make_engine

ACTION = "purchase_completed"
SAMPLES = 300
WARM_UP = 50

_SEED_CAMPAIGNS = text(
    """
    WITH c AS (
        SELECT i, 'cmp_' || lpad(i::text, 6, '0') AS id,
               CASE WHEN i < :matching THEN :action ELSE 'other_' || (i % 500) END AS action
        FROM generate_series(0, :total - 1) AS i
    ), ins AS (
        INSERT INTO campaigns (org_id, id, status, version)
        SELECT CAST(:org AS uuid), id, 'active', 1 FROM c
    )
    INSERT INTO campaign_versions (org_id, campaign_id, version, definition)
    SELECT CAST(:org AS uuid), id, 1, jsonb_build_object(
        'name', 'bench ' || i, 'priority', i % 7,
        'triggers', jsonb_build_array(jsonb_build_object('type', action, 'conditions',
            jsonb_build_array(jsonb_build_object('field', 'amount', 'operator', '>=', 'value', i % 200),
                              jsonb_build_object('field', 'metadata.source', 'operator', 'in',
                                                 'value', jsonb_build_array('shopify', 'pos'))))),
        'effects', jsonb_build_array(jsonb_build_object('type', 'add_points',
            'config', jsonb_build_object('amount', 1 + i % 50))))
    FROM c
    """
)
# A statement of its own: the index copies version and status from campaign rows it must see.
_SEED_INDEX = text(
    """
    INSERT INTO campaign_triggers (org_id, action, campaign_id)
    SELECT org_id, definition -> 'triggers' -> 0 ->> 'type', campaign_id
    FROM campaign_versions WHERE org_id = CAST(:org AS uuid)
    """
)
_SEED_CODES = text(
    """
    INSERT INTO code_pools (org_id, id, name) VALUES (CAST(:org AS uuid), :pool, :pool);
    """
)
_SEED_CODE_ROWS = text(
    """
    INSERT INTO codes (org_id, pool_id, code)
    SELECT CAST(:org AS uuid), CAST(:pool AS text), CAST(:pool AS text) || '-' || i
    FROM generate_series(1, :n) AS i
    """
)


async def org_with(engine: AsyncEngine, total: int, matching: int) -> str:
    async with engine.begin() as conn:
        org_id = await orgs.create(conn, f"bench-{total}")
        await users.insert_user(conn, org_id, "u", None, None)
        await conn.execute(
            _SEED_CAMPAIGNS, {"org": org_id, "total": total, "matching": matching, "action": ACTION}
        )
        await conn.execute(_SEED_INDEX, {"org": org_id})
    return org_id


async def timed(
    *sides: Callable[[int], Awaitable[Any]], samples: int = SAMPLES
) -> list[dict[str, float]]:
    """Interleaved, so every side sees the same machine: this one is noisy."""
    for i in range(WARM_UP):  # connections, prepared statements, parsed versions
        for call in sides:
            await call(-i - 1)
    durations: list[list[float]] = [[] for _ in sides]
    for i in range(samples):
        for side, call in enumerate(sides):
            t0 = time.perf_counter()
            await call(i)
            durations[side].append((time.perf_counter() - t0) * 1000)

    def summary(values: list[float]) -> dict[str, float]:
        values.sort()
        return {
            "p50_ms": round(statistics.median(values), 3),
            "p99_ms": round(values[int(0.99 * len(values)) - 1], 3),
        }

    return [summary(values) for values in durations]


def round_trip(engine: AsyncEngine) -> Callable[[int], Awaitable[None]]:
    """The floor any activity pays per statement on this machine, measured alongside."""

    async def select_one(_: int) -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return select_one


async def planner(
    engine: AsyncEngine, activities: ActionActivities, org_id: str, count: int
) -> Callable[[int], Awaitable[None]]:
    """Plans ``count`` stored, not yet planned events, one per call, as a workflow would."""
    request = ActionRequest(
        userId="u", action=ACTION, data={"amount": 150}, metadata={"source": "shopify"}
    )
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        accepted = await events.accept_many(conn, org_id, [(request, None)] * count, now)
    pending = iter(accepted)

    async def plan_once(_: int) -> None:
        result = await activities.plan_action(
            ActionInput(
                event_id=next(pending).event_id,
                org_id=org_id,
                user_id="u",
                action=ACTION,
                timestamp=now,
                data=request.data,
                metadata=request.metadata,
            )
        )
        assert len(result.campaign_ids) == 100  # every campaign on the action matches

    return plan_once


async def allocator(
    engine: AsyncEngine, org_id: str, pool: str, size: int
) -> Callable[[int], Awaitable[None]]:
    async with engine.begin() as conn:
        await conn.execute(_SEED_CODES, {"org": org_id, "pool": pool})
        await conn.execute(_SEED_CODE_ROWS, {"org": org_id, "pool": pool, "n": size})
        await conn.execute(text("ANALYZE codes"))

    async def allocate(_i: int) -> None:
        event = f"evt_{uuid.uuid4()}"
        await grants.apply(
            engine,
            EffectRequest(
                org_id=org_id,
                event_id=event,
                user_id="u",
                effect=PlannedEffect(
                    key=f"{event}:{pool}:1:0",
                    campaign_id=pool,
                    campaign_version=1,
                    effect_index=0,
                    type="allocate_code",
                    pool_id=pool,
                    reason="bench",
                ),
            ),
        )

    return allocate


async def main() -> dict[str, Any]:
    with postgres_server() as server:
        url, _ = await fresh_database(server)
        engine = make_engine(url, 4)
        try:
            small = await org_with(engine, total=100, matching=100)
            large = await org_with(engine, total=10_000, matching=100)
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
            activities = ActionActivities(engine=engine, max_attempts=1)
            plan_small, plan_large, bare = await timed(
                await planner(engine, activities, small, WARM_UP + SAMPLES),
                await planner(engine, activities, large, WARM_UP + SAMPLES),
                round_trip(engine),
            )
            alloc_small, alloc_large = await timed(
                await allocator(engine, small, "pool_1k", 1_000),
                await allocator(engine, large, "pool_1m", 1_000_000),
            )
        finally:
            await engine.dispose()
    return {
        "plan_activity": {
            "org_100_campaigns": plan_small,
            "org_10000_campaigns_100_on_action": plan_large,
            "ratio_p50": round(plan_large["p50_ms"] / plan_small["p50_ms"], 2),
            "round_trip": bare,
            "round_trips_p50": round(plan_small["p50_ms"] / bare["p50_ms"], 1),
        },
        "code_allocation": {
            "pool_1000_codes": alloc_small,
            "pool_1000000_codes": alloc_large,
            "ratio_p50": round(alloc_large["p50_ms"] / alloc_small["p50_ms"], 2),
        },
        "samples": SAMPLES,
    }


if __name__ == "__main__":
    report = uvloop.run(main())  # the worker's event loop (``loyalty worker``)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "matching.json").write_text(json.dumps(report, indent=2) + "\n")
    plan, alloc = report["plan_activity"], report["code_allocation"]
    print("| measure | p50 | p99 | target |")
    print("|---|---|---|---|")
    print(
        f"| plan activity, 100 campaigns | {plan['org_100_campaigns']['p50_ms']} ms | {plan['org_100_campaigns']['p99_ms']} ms | p50 ≤ 5 ms |"
    )
    big = plan["org_10000_campaigns_100_on_action"]
    print(
        f"| plan activity, 10,000 campaigns (100 on the action) | {big['p50_ms']} ms | {big['p99_ms']} ms | p50 ≤ 5 ms |"
    )
    print(f"| plan ratio (10,000 ÷ 100) | {plan['ratio_p50']} | | ≤ 1.5 |")
    bare = plan["round_trip"]
    print(
        f"| one `SELECT 1` round trip, same run | {bare['p50_ms']} ms | {bare['p99_ms']} ms | plan = {plan['round_trips_p50']} round trips |"
    )
    print(
        f"| allocate code, 1,000-code pool | {alloc['pool_1000_codes']['p50_ms']} ms | {alloc['pool_1000_codes']['p99_ms']} ms | |"
    )
    print(
        f"| allocate code, 1,000,000-code pool | {alloc['pool_1000000_codes']['p50_ms']} ms | {alloc['pool_1000000_codes']['p99_ms']} ms | |"
    )
    print(f"| allocation ratio | {alloc['ratio_p50']} | | ≤ 1.5 |")
