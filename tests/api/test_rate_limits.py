"""Per-org rate limits: 429 with Retry-After and X-RateLimit-*, batches count their items,
overrides per org, and counters shared across API processes through Redis."""

from __future__ import annotations

import asyncio
import os
import socket

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from src.api.ratelimit import AUTH_ATTEMPTS_PER_ADDRESS, AUTH_ATTEMPTS_PER_KEY
from src.config import Settings
from src.store import keys, orgs
from tests.guide import FLOW_ACTION
from tests.support import ACTIONS, Tenant, api_server, make_tenant, redis_url


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


@pytest.mark.serial  # a burst must land within a second
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
        assert big.status_code == 413  # it could never fit a burst of 10
        fits = await tenant.http.post(f"{ACTIONS}/batch", json={"actions": [FLOW_ACTION] * 5})
        assert fits.status_code == 202
    finally:
        await tenant.http.aclose()


# CI names the Redis it started (.ci/run); then the test runs or fails, never skips.
REDIS_NAMED = "LOYALTY_TEST_REDIS_URL" in os.environ
REDIS_URL = redis_url()


def redis_up() -> bool:
    url = make_url(REDIS_URL)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((url.host or "127.0.0.1", url.port or 6379)) == 0


@pytest.mark.skipif(not REDIS_NAMED and not redis_up(), reason="no Redis on 127.0.0.1:6379")
@pytest.mark.serial  # within a second
async def test_limit_is_shared_across_api_processes_with_redis(
    engine: AsyncEngine, settings: Settings
) -> None:
    assert redis_up(), f"Redis at {REDIS_URL} does not answer"
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
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


@pytest.mark.serial  # within a second
async def test_refusals_are_not_charged_and_keys_have_budgets(
    engine: AsyncEngine, base_url: str
) -> None:
    tenant = await limited_tenant(engine, base_url, per_second=100, burst=4)
    try:
        async with engine.begin() as conn:
            _, reader = await keys.create(conn, tenant.org_id, "reader", ["users:read"])
            pos_id, pos = await keys.create(conn, tenant.org_id, "pos", ["actions:write"])
            assert await keys.set_rate_limit(conn, tenant.org_id, pos_id, 100, 1)
        as_reader = {"Authorization": f"Bearer {reader}"}
        for _ in range(6):  # 403s (scope) and 401s cost the org nothing
            assert (
                await tenant.http.post(ACTIONS, json=FLOW_ACTION, headers=as_reader)
            ).status_code == 403
            bad = {"Authorization": "Bearer lsk_nope"}
            assert (await tenant.http.get("/v1/users", headers=bad)).status_code == 401
        as_pos = {"Authorization": f"Bearer {pos}"}
        first = await tenant.http.post(ACTIONS, json=FLOW_ACTION, headers=as_pos)
        second = await tenant.http.post(ACTIONS, json=FLOW_ACTION, headers=as_pos)
        assert (first.status_code, second.status_code) == (202, 429)
        assert "for this key" in second.json()["error"]["message"]
        # The key over its budget cost the org one unit: three are left for the other keys.
        codes = [(await tenant.http.post(ACTIONS, json=FLOW_ACTION)).status_code for _ in range(4)]
        assert codes == [202, 202, 202, 429]
        pair = {"actions": [FLOW_ACTION, FLOW_ACTION]}
        await asyncio.sleep(1)  # the key's burst window is free again
        never = await tenant.http.post(f"{ACTIONS}/batch", json=pair, headers=as_pos)
        assert never.status_code == 413  # two actions never fit a burst of one: no retry helps
    finally:
        await tenant.http.aclose()


@pytest.mark.skipif(not REDIS_NAMED and not redis_up(), reason="no Redis on 127.0.0.1:6379")
async def test_a_secret_that_verified_stays_exempt_after_a_restart_with_redis(
    engine: AsyncEngine, settings: Settings
) -> None:
    """Guesses at a key's ID throttle that key; its real secret, verified before the API
    restarted, still gets in (Redis remembers it), while a guess does not."""
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    async with api_server(shared) as before:
        tenant = await make_tenant(engine, before)
        assert (await tenant.http.get("/v1/users")).status_code == 200
        await tenant.http.aclose()
    async with api_server(shared) as after:  # a new process: nothing cached
        forged = f"lsk_{tenant.key_id[4:]}_forged"
        async with httpx.AsyncClient(base_url=after, headers=tenant.headers) as http:
            guesses = [
                (await http.get("/v1/users", headers={"Authorization": f"Bearer {forged}"}))
                for _ in range(AUTH_ATTEMPTS_PER_KEY + 1)
            ]
            assert [g.status_code for g in guesses][-1] == 429
            assert (await http.get("/v1/users")).status_code == 200


async def test_failed_authentication_is_throttled_before_the_database(
    engine: AsyncEngine, settings: Settings
) -> None:
    async with api_server(settings) as url:  # a process of its own: its throttle is too
        tenant = await make_tenant(engine, url)
        try:
            await tenant.http.get("/v1/users")  # the good key is verified and cached
            forged = {"Authorization": "Bearer lsk_0123456789abcdef_forged"}
            codes = [
                (await tenant.http.get("/v1/users", headers=forged)).status_code
                for _ in range(AUTH_ATTEMPTS_PER_KEY + 2)
            ]
            assert codes == [401] * AUTH_ATTEMPTS_PER_KEY + [429, 429]  # per key named
            refused = await tenant.http.get("/v1/users", headers=forged)
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["error"]["code"] == "too_many_failed_authentications"
            for i in range(AUTH_ATTEMPTS_PER_ADDRESS):  # and per address, whatever the key
                await tenant.http.get("/v1/users", headers={"Authorization": f"Bearer lsk_{i}"})
            unknown = await tenant.http.get("/v1/users", headers={"Authorization": "Bearer x"})
            assert unknown.status_code == 429
            assert (await tenant.http.get("/v1/users")).status_code == 200  # cached: let in
        finally:
            await tenant.http.aclose()


async def test_bulk_codes_have_a_budget_and_pools_a_cap(
    engine: AsyncEngine, settings: Settings
) -> None:
    tight = settings.model_copy(update={"bulk_codes_per_minute": 3000, "pool_max_codes": 2500})
    async with api_server(tight) as url:
        tenant = await make_tenant(engine, url)
        try:
            await tenant.http.post("/v1/code-pools", json={"id": "p", "name": "P"})
            made = await tenant.http.post("/v1/code-pools/p/generate", json={"count": 2000})
            assert made.status_code == 201, made.text
            full = await tenant.http.post("/v1/code-pools/p/codes", json={"codes": ["A"] * 501})
            assert full.status_code == 409 and full.json()["error"]["code"] == "pool_full"
            over = await tenant.http.post("/v1/code-pools/p/generate", json={"count": 100})
            assert over.status_code == 429 and over.json()["error"]["code"] == "bulk_rate_limited"
        finally:
            await tenant.http.aclose()


@pytest.mark.serial  # a latency
async def test_generation_leaves_the_event_loop_free(tenant: Tenant) -> None:
    await tenant.http.post("/v1/code-pools", json={"id": "big", "name": "Big"})
    making = asyncio.create_task(
        tenant.http.post("/v1/code-pools/big/generate", json={"count": 100_000, "length": 12})
    )
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    while not making.done():
        probe = asyncio.get_running_loop().time()
        assert (await tenant.http.get("/healthz")).status_code == 200
        assert asyncio.get_running_loop().time() - probe < 1.0, "the API stalled"
        await asyncio.sleep(0.05)
    made = await making
    assert made.status_code == 201, made.text
    assert asyncio.get_running_loop().time() - started > 0.1  # it really ran meanwhile
