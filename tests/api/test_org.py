"""Org settings: concurrent edits of different keys all survive."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from src.store import orgs
from tests.guide import ok
from tests.support import Tenant


async def test_concurrent_settings_edits_all_survive(tenant: Tenant, engine: AsyncEngine) -> None:
    """Each edit merges its keys in one statement: none overwrites another's."""
    http = tenant.http
    patches = [{"timezone": "Europe/Rome"}, {"unknownUsers": "enroll"}, {"phoneRegion": "GB"}]

    async def operator_limit() -> None:
        async with engine.begin() as conn:
            assert await orgs.set_rate_limit(conn, tenant.org_id, 50, 80)

    replies = await asyncio.gather(
        *(http.patch("/v1/org/settings", json=p) for p in patches * 5), operator_limit()
    )
    assert all(r.status_code == 200 for r in replies[:-1])
    settings = await ok(await http.get("/v1/org/settings"), 200)
    assert settings["timezone"] == "Europe/Rome" and settings["unknownUsers"] == "enroll"
    assert settings["phoneRegion"] == "GB"
    async with engine.connect() as conn:
        stored = await orgs.get_settings(conn, tenant.org_id)
    assert stored.rate_limit is not None
    assert stored.rate_limit.model_dump() == {"perSecond": 50, "burst": 80}
