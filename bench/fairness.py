"""One org's backlog must not delay another's actions.

Org A queues 3,000 actions (batches, rate limit lifted), then org B posts one: B's latency
from acceptance to settled, with the dev server's task-queue Fairness on and off, each on a
fresh Temporal dev server and database, worker and API in processes of their own as deployed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from src.cli.devstack import address_of, temporal_dev_server
from src.domain.campaigns import CampaignDefinition
from src.domain.scopes import SCOPES
from src.store import campaigns, keys, orgs, users
from src.store.db import make_engine
from src.store.tables import Event

BACKLOG = 3000
ACTIONS = "/api/audience/internal/actions"


async def _org(engine: AsyncEngine, name: str) -> dict[str, str]:
    """An org with 20 users, a one-point campaign on ``visit`` and its rate limit lifted."""
    async with engine.begin() as conn:
        org_id = await orgs.create(conn, name)
        _, secret = await keys.create(conn, org_id, name, list(SCOPES))
        await orgs.set_rate_limit(conn, org_id, 1_000_000, 1_000_000)
        for i in range(20):
            await users.insert_user(conn, org_id, f"u{i}", None, None)
        definition = CampaignDefinition.model_validate(
            {
                "name": "a point a visit",
                "triggers": [{"type": "visit"}],
                "effects": [{"type": "add_points", "config": {"amount": 1}}],
            }
        )
        await campaigns.create(conn, org_id, definition, "active")
    return {"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": org_id}


async def _settled(engine: AsyncEngine, event_id: str) -> float:
    """Seconds from acceptance to settled, by the database's own clock."""
    query = select(Event.status, Event.created_at, Event.updated_at).where(Event.id == event_id)
    async with asyncio.timeout(120):
        while True:
            async with engine.connect() as conn:
                row = (await conn.execute(query)).one()
            if row.status in ("processed", "failed", "skipped"):
                return float((row.updated_at - row.created_at).total_seconds())
            await asyncio.sleep(0.05)


async def behind_backlog(server: str, fairness: bool) -> dict[str, Any]:
    """B's latency behind A's backlog on a dev server with Fairness ``fairness``."""
    from bench.run import CLI, free_port, fresh_database, process, stack_env, wait_http

    db_url, _ = await fresh_database(server)
    temporal = await temporal_dev_server(fairness=fairness)
    engine = make_engine(db_url, 4)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = stack_env(db_url, address_of(temporal), port, "bench")
    try:
        a, b = await _org(engine, "a"), await _org(engine, "b")
        async with (
            process([*CLI, "api"], env),
            process([*CLI, "worker"], env),
            aiohttp.ClientSession() as http,
        ):
            await wait_http(f"{base}/healthz")
            for start in range(0, BACKLOG, 100):
                batch = [
                    {"userId": f"u{i % 20}", "action": "visit"} for i in range(start, start + 100)
                ]
                async with http.post(
                    f"{base}{ACTIONS}/batch", json={"actions": batch}, headers=a
                ) as reply:
                    assert reply.status == 202, await reply.text()
            await asyncio.sleep(1)  # A's first workflows run, the rest of its backlog waits
            async with http.post(
                f"{base}{ACTIONS}", json={"userId": "u0", "action": "visit"}, headers=b
            ) as reply:
                event_id = (await reply.json())["eventId"]
            latency = await _settled(engine, event_id)
            async with engine.connect() as conn:
                a_waiting = await conn.scalar(
                    select(Event.id).where(Event.status == "queued").limit(1)
                )
    finally:
        await engine.dispose()
        await temporal.shutdown()
    return {"b_latency_ms": round(latency * 1000, 1), "a_backlog_left": a_waiting is not None}


async def measure(server: str) -> dict[str, Any]:
    on = await behind_backlog(server, fairness=True)
    off = await behind_backlog(server, fairness=False)
    return {
        "backlog_of_a": BACKLOG,
        "b_latency_ms_fairness_on": on["b_latency_ms"],
        "b_latency_ms_fairness_off": off["b_latency_ms"],
        "a_backlog_left_when_b_settled": on["a_backlog_left"] and off["a_backlog_left"],
    }
