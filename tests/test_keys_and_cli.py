"""API-key lifecycle and the `loyalty` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.api.invalidation import listen
from src.config import Settings
from src.services.cache import TTLCache
from src.store import changes, keys
from tests.guide import ok
from tests.support import Tenant, api_server, make_tenant

ACTIONS = "/api/audience/internal/actions"


def client_for(tenant: Tenant, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=str(tenant.http.base_url),
        headers={"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": tenant.org_id},
    )


async def test_create_scope_rotate_revoke(tenant: Tenant, engine: AsyncEngine) -> None:
    created = await ok(
        await tenant.http.post("/v1/api-keys", json={"name": "pos", "scopes": ["actions:write"]})
    )
    assert created["secret"].startswith("lsk_") and created["scopes"] == ["actions:write"]
    async with engine.connect() as conn:  # stored only as a digest
        assert await keys.find(conn, created["secret"]) is not None
        stored = [tuple(map(str, row)) for row in await keys.list_all(conn, tenant.org_id)]
        assert created["secret"] not in json.dumps(stored)
    async with client_for(tenant, created["secret"]) as pos:
        assert (await pos.get("/v1/users")).status_code == 403
        action = {"userId": "u", "action": "store_visit"}
        assert (await pos.post("/api/audience/internal/actions", json=action)).status_code == 202

        rotated = await ok(
            await tenant.http.post(f"/v1/api-keys/{created['id']}/rotate", json={"graceSeconds": 0})
        )
        assert rotated["replaces"] == created["id"]
        assert (await pos.post("/api/audience/internal/actions", json=action)).status_code == 401
    async with client_for(tenant, rotated["secret"]) as fresh:
        assert (await fresh.post("/api/audience/internal/actions", json=action)).status_code == 202
        assert (await tenant.http.delete(f"/v1/api-keys/{rotated['id']}")).status_code == 204
        assert (await fresh.post("/api/audience/internal/actions", json=action)).status_code == 401
    listed = (await tenant.http.get("/v1/api-keys")).json()["data"]
    assert {k["id"] for k in listed} >= {created["id"], rotated["id"]}
    bad = await tenant.http.post("/v1/api-keys", json={"name": "x", "scopes": ["root"]})
    assert bad.status_code == 422


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
    cache: TTLCache[str, str] = TTLCache(300)
    listeners = text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loyalty-notices'"
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
                    "WHERE application_name = 'loyalty-notices'"
                )
            )
        assert await eventually(lambda: _true(cache.get("k") == (False, None)))
        assert await eventually(lambda: _more(listening, 0))
        cache.put("k", "v", cache.generation)
        async with engine.begin() as conn:
            await changes.announce(conn, "keys")
        assert await eventually(lambda: _true(cache.get("k") == (False, None)))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _more(count: Callable[[], Awaitable[int]], than: int) -> bool:
    return await count() > than


async def _true(value: bool) -> bool:
    return value


def test_cli_migrate_and_orgs_create(settings: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": settings.require_database_url()}
    cli = [sys.executable, "-c", "from src.cli.main import app; app()"]
    migrated = subprocess.run(
        [*cli, "migrate"], env=env, capture_output=True, text=True, check=True
    )
    assert "up to date" in migrated.stdout
    out = subprocess.run(
        [*cli, "orgs", "create", "--name", "Acme", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    created = json.loads(out.stdout)
    assert uuid.UUID(created["orgId"]) and created["apiKey"].startswith("key_")
    assert created["apiSecret"].startswith("lsk_")
