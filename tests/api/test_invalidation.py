"""Changes made through one API process reach every other one at once (PostgreSQL notices),
and a listener that lost its connection recovers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.api.invalidation import listen
from src.config import Settings
from src.store import changes
from src.store.cache import TTLCache
from tests.guide import ok
from tests.support import ACTIONS, api_server, make_tenant


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 3) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_changes_reach_other_api_processes_at_once(
    engine: AsyncEngine, settings: Settings
) -> None:
    """A revoked key and a new trigger definition take effect on every API process as they
    commit, not when its cache expires (``KEY_CACHE_SECONDS``)."""
    assert settings.key_cache_seconds >= 30
    async with api_server(settings) as first, api_server(settings) as second:
        admin = await make_tenant(engine, first)
        created = await ok(
            await admin.http.post("/v1/api-keys", json={"name": "gate", "scopes": ["admin"]})
        )
        gate = httpx.AsyncClient(
            base_url=second,
            headers={
                "Authorization": f"Bearer {created['secret']}",
                "X-Monterosa-Org-ID": admin.org_id,
            },
        )
        try:
            typed = {"userId": "u", "action": "scan", "data": {"gate": "not a number"}}
            assert (await gate.post(ACTIONS, json=typed)).status_code == 202  # both now cached
            trigger = {
                "key": "scan",
                "name": "Scan",
                "category": "venue",
                "fields": [{"key": "gate", "type": "number", "description": "gate number"}],
            }
            await ok(await admin.http.post("/v1/triggers", json=trigger))

            async def typed_now() -> bool:
                return (await gate.post(ACTIONS, json=typed)).status_code == 422

            assert await eventually(typed_now)
            assert (await admin.http.delete(f"/v1/api-keys/{created['id']}")).status_code == 204

            async def revoked_now() -> bool:
                return (await gate.get("/v1/triggers")).status_code == 401

            assert await eventually(revoked_now)
        finally:
            await gate.aclose()
            await admin.http.aclose()


async def test_notice_listener_recovers_from_a_lost_connection(
    engine: AsyncEngine, settings: Settings
) -> None:
    """A listener whose connection is killed reconnects, drops what it may have missed, and
    hears notices again."""
    cache: TTLCache[str, str] = TTLCache(300, owner=lambda key, _: tuple(key.split("/")))
    listeners = text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loyalty-notices'"
        " AND datname = current_database()"  # this session's: others may run beside it
    )

    async def listening() -> int:
        async with engine.connect() as conn:
            return int(await conn.scalar(listeners) or 0)

    before = await listening()
    task = asyncio.create_task(listen(settings.require_database_url(), {"keys": cache}))
    try:
        assert await eventually(lambda: _more(listening, before))
        await asyncio.sleep(0.3)  # past its first clear
        cache.put("k", "v", cache.generation)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'loyalty-notices' AND datname = current_database()"
                )
            )
        assert await eventually(lambda: _true(cache.get("k") == (False, None)))
        assert await eventually(lambda: _more(listening, 0))
        for key in ("org-a/k", "org-a/other", "org-b/k"):
            cache.put(key, "v", cache.generation)
        async with engine.begin() as conn:  # names one key of one org: that entry alone goes
            await changes.announce(conn, "keys", "org-a", "k")
        assert await eventually(lambda: _true(cache.get("org-a/k") == (False, None)))
        assert cache.get("org-a/other") == (True, "v") and cache.get("org-b/k") == (True, "v")
        async with engine.begin() as conn:  # names the org: all of its entries go
            await changes.announce(conn, "keys", "org-a")
        assert await eventually(lambda: _true(cache.get("org-a/other") == (False, None)))
        assert cache.get("org-b/k") == (True, "v")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _more(count: Callable[[], Awaitable[int]], than: int) -> bool:
    return await count() > than


async def _true(value: bool) -> bool:
    return value
