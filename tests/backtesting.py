"""Backtest fixtures shared by the service and end-to-end tests: a draft campaign over
``visit`` actions, stored actions written straight to the table, and waiting for a result."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from src.store.tables import Event, User
from tests.guide import ok
from tests.support import Tenant

# 10 points and a code of the pool ``welcome`` a visit.
VISITS_PAY: dict[str, Any] = {
    "name": "visits pay",
    "status": "draft",
    "triggers": [{"type": "visit"}],
    "effects": [
        {"type": "add_points", "config": {"amount": 10}},
        {"type": "allocate_code", "config": {"poolId": "welcome"}},
    ],
}


async def draft(tenant: Tenant, limits: dict[str, Any] | None = None) -> str:
    body = {**VISITS_PAY, **({"limits": limits} if limits else {})}
    created = await ok(await tenant.http.post("/v1/campaigns", json=body))
    return str(created["id"])


async def stored_visits(engine: AsyncEngine, org_id: str, start: datetime, count: int) -> None:
    """``count`` processed visits by 50 users, a second apart from ``start``."""
    async with engine.begin() as conn:
        await conn.execute(insert(User), [{"org_id": org_id, "id": f"u{i}"} for i in range(50)])
        await conn.execute(
            insert(Event),
            [
                {
                    "id": f"evt_bt_{org_id[:8]}_{i:05d}",
                    "org_id": org_id,
                    "user_id": f"u{i % 50}",
                    "resolved_user_id": f"u{i % 50}",
                    "action": "visit",
                    "occurred_at": start + timedelta(seconds=i),
                    "data": {},
                    "metadata": {},
                    "fingerprint": "bt",
                    "status": "processed",
                }
                for i in range(count)
            ],
        )


async def finished(tenant: Tenant, backtest_id: str) -> dict[str, Any]:
    for _ in range(600):
        found = (await tenant.http.get(f"/v1/backtests/{backtest_id}")).json()
        if found["status"] != "running":
            return dict(found)
        await asyncio.sleep(0.1)
    raise AssertionError(f"backtest {backtest_id} still running")


def backtest_row(
    org_id: str, campaign_id: str, backtest_id: str, start: datetime, end: datetime, total: int
) -> dict[str, Any]:
    """A running backtest's row over ``visit`` actions, as a request writes it."""
    return {
        "id": backtest_id,
        "org_id": org_id,
        "campaign_id": campaign_id,
        "campaign_version": 1,
        "actions": ["visit"],
        "window_start": start,
        "window_end": end,
        "status": "running",
        "total": total,
    }
