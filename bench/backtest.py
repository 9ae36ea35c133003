"""Backtest throughput: 100,000 stored actions of 100,000 distinct users judged against a
campaign with conditions and a per-user limit, against the baseline of reading the same pages
without judging them, in one run on one database; and what a page costs in memory (the peak
Python allocation while judging, traced in a run of its own) and in the row it rewrites (the
saved state's size), neither of which may grow with the users seen. Writes
bench/results/backtest.json.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.run import RESULTS, fresh_database, postgres_server
from src.domain.backtests import PAGE, PAGE_BYTES, BacktestInput
from src.domain.campaigns import CampaignDefinition
from src.services import backtests
from src.store import backtests as store
from src.store import campaigns, orgs
from src.store.db import make_engine

EVENTS = 100_000
USERS = 100_000
START = datetime(2025, 1, 1, tzinfo=UTC)
END = START + timedelta(days=90)

_SEED = text(
    """
    WITH u AS (
        INSERT INTO users (org_id, id)
        SELECT CAST(:org AS uuid), 'u' || i FROM generate_series(0, :users - 1) AS i
    )
    INSERT INTO events (id, org_id, user_id, resolved_user_id, action, occurred_at, data,
                        metadata, fingerprint, status)
    SELECT 'evt_bench_' || i, CAST(:org AS uuid), 'u' || (i % :users), 'u' || (i % :users),
           'purchase_completed', CAST(:start AS timestamptz) + make_interval(secs => i * 77.76),
           jsonb_build_object('amount', (i % 300) + 1, 'currency', 'USD'), '{}', 'bench',
           'processed'
    FROM generate_series(0, :events - 1) AS i
    """
)
CAMPAIGN = {
    "name": "big spenders",
    "triggers": [
        {
            "type": "purchase_completed",
            "conditions": [{"field": "data.amount", "operator": ">=", "value": 100}],
        }
    ],
    "effects": [{"type": "add_points", "config": {"amount": 50}}],
    "limits": {"perUserPerPeriod": {"count": 2, "period": "week"}, "pointsBudget": 2_000_000},
}


async def seed(engine: AsyncEngine) -> tuple[str, str]:
    async with engine.begin() as conn:
        org_id = await orgs.create(conn, "bench-backtest")
        params = {"org": org_id, "users": USERS, "events": EVENTS, "start": START}
        await conn.execute(_SEED, params)
        campaign_id = await campaigns.create(
            conn, org_id, CampaignDefinition.model_validate(CAMPAIGN), "draft"
        )
        await conn.execute(text("ANALYZE events"))
        await conn.execute(text("ANALYZE users"))
    return org_id, campaign_id


async def read_only(engine: AsyncEngine, org_id: str) -> float:
    """The baseline: the same pages, read and not judged."""
    started, after, read = time.perf_counter(), None, 0
    while True:
        async with engine.connect() as conn:
            page, last = await store.page(
                conn, org_id, ["purchase_completed"], START, END, after, PAGE, PAGE_BYTES
            )
        read += len(page)
        if last:
            return read / (time.perf_counter() - started)
        after = (page[-1].occurred_at, page[-1].event_id)


async def judged(
    engine: AsyncEngine, org_id: str, campaign_id: str, traced: bool = False
) -> tuple[float, Any, int, int]:
    """(actions judged a second, result, peak traced bytes, bytes of the saved state)."""
    backtest_id = f"bt_bench_{int(time.time() * 1000)}"
    async with engine.begin() as conn:
        await store.create(
            conn,
            {
                "id": backtest_id,
                "org_id": org_id,
                "campaign_id": campaign_id,
                "campaign_version": 1,
                "actions": ["purchase_completed"],
                "window_start": START,
                "window_end": END,
                "status": "running",
                "total": EVENTS,
            },
        )

    async def beat(_: int) -> None:
        """The activity's heartbeat, which a run outside Temporal has no use for."""

    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    result = await backtests.run(
        engine, BacktestInput(backtest_id=backtest_id, org_id=org_id), beat
    )
    rate = EVENTS / (time.perf_counter() - started)
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    async with engine.connect() as conn:
        state = await conn.scalar(
            text("SELECT octet_length(state::text) FROM backtests WHERE id = :id"),
            {"id": backtest_id},
        )
    return rate, result, peak, int(state or 0)


async def main() -> dict[str, Any]:
    with postgres_server() as server:
        url, _ = await fresh_database(server)
        engine = make_engine(url, 4)
        try:
            org_id, campaign_id = await seed(engine)
            await read_only(engine, org_id)  # warm the cache for both
            baseline = await read_only(engine, org_id)
            rate, result, _, state = await judged(engine, org_id, campaign_id)
            _, _, peak, _ = await judged(engine, org_id, campaign_id, traced=True)
        finally:
            await engine.dispose()
    return {
        "events": EVENTS,
        "backtest_events_per_second": round(rate),
        "read_events_per_second": round(baseline),
        "backtest_vs_read": round(rate / baseline, 2),
        "fired": result["fired"],
        "distinct_users": result["distinct_users"],
        "refusals": result["refusals"],
        "page_peak_kib": round(peak / 1024),
        "state_bytes_per_page": state,
    }


if __name__ == "__main__":
    report = uvloop.run(main())  # the worker's event loop (``loyalty worker``)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backtest.json").write_text(json.dumps(report, indent=2) + "\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(
        f"| backtest, {EVENTS:,} stored actions | {report['backtest_events_per_second']:,} events/s | |"
    )
    print(
        f"| the same pages read, not judged | {report['read_events_per_second']:,} events/s | baseline |"
    )
    print(f"| backtest ÷ read | {report['backtest_vs_read']} | |")
    print(
        f"| memory of a page, {report['distinct_users']:,} distinct users rewarded "
        f"| {report['page_peak_kib']:,} KiB traced peak | flat in users seen |"
    )
    print(
        f"| state rewritten per page | {report['state_bytes_per_page']:,} bytes "
        "| flat in users seen |"
    )
