"""Per-org rate limits: 429 with Retry-After and X-RateLimit-*, batches count their items,
overrides per org, and counters shared across API processes through Redis."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.store import orgs
from tests.guide import FLOW_ACTION
from tests.support import Tenant, api_server, make_tenant

ACTIONS = "/api/audience/internal/actions"


async def limited_tenant(engine: AsyncEngine, base_url: str, per_second: int, burst: int) -> Tenant:
    tenant = await make_tenant(engine, base_url)
    async with engine.begin() as conn:
        assert await orgs.set_rate_limit(conn, tenant.org_id, per_second, burst)
    return tenant


async def test_default_limit_headers(engine: AsyncEngine, base_url: str) -> None:
    tenant = await make_tenant(engine, base_url)
    try:
        reply = await tenant.http.get("/v1/users")
        assert reply.status_code == 200
        assert reply.headers["X-RateLimit-Limit"] == "1000"  # 100/s over the 10 s window
        assert int(reply.headers["X-RateLimit-Remaining"]) == 999
        assert int(reply.headers["X-RateLimit-Reset"]) > 0
    finally:
        await tenant.http.aclose()


async def test_burst_then_429(engine: AsyncEngine, base_url: str) -> None:
    tenant = await limited_tenant(engine, base_url, per_second=2, burst=5)
    try:
        codes = [(await tenant.http.post(ACTIONS, json=FLOW_ACTION)).status_code for _ in range(5)]
        assert codes == [202] * 5
        refused = await tenant.http.post(ACTIONS, json=FLOW_ACTION)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["X-RateLimit-Limit"] == "20"
        # Another org is unaffected.
        other = await make_tenant(engine, base_url)
        assert (await other.http.post(ACTIONS, json=FLOW_ACTION)).status_code == 202
        await other.http.aclose()
    finally:
        await tenant.http.aclose()


async def test_batch_counts_its_items(engine: AsyncEngine, base_url: str) -> None:
    tenant = await limited_tenant(engine, base_url, per_second=100, burst=10)
    try:
        big = await tenant.http.post(f"{ACTIONS}/batch", json={"actions": [FLOW_ACTION] * 11})
        assert big.status_code == 429
        fits = await tenant.http.post(f"{ACTIONS}/batch", json={"actions": [FLOW_ACTION] * 5})
        assert fits.status_code == 202
    finally:
        await tenant.http.aclose()


# CI names the Redis it started (.ci/run); then the test runs or fails, never skips.
REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL")


def redis_up() -> bool:
    url = make_url(REDIS_URL or "redis://127.0.0.1:6379/0")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((url.host or "127.0.0.1", url.port or 6379)) == 0


@pytest.mark.skipif(not REDIS_URL and not redis_up(), reason="no Redis on 127.0.0.1:6379")
async def test_limit_is_shared_across_api_processes_with_redis(
    engine: AsyncEngine, settings: Settings
) -> None:
    assert redis_up(), f"LOYALTY_TEST_REDIS_URL={REDIS_URL} does not answer"
    shared = settings.model_copy(update={"redis_url": REDIS_URL or "redis://127.0.0.1:6379/0"})
    async with api_server(shared) as first, api_server(shared) as second:
        a = await limited_tenant(engine, first, per_second=100, burst=8)
        b = await make_tenant(engine, second)
        b.http.headers.update(a.headers)  # same org and key, other process
        try:
            replies = await asyncio.gather(
                *[t.http.post(ACTIONS, json=FLOW_ACTION) for t in (a, b) for _ in range(6)]
            )
            codes = sorted(r.status_code for r in replies)
            assert codes.count(202) == 8 and codes.count(429) == 4
        finally:
            await a.http.aclose()
            await b.http.aclose()
