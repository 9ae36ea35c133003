"""Regressions: overlapping plan attempts, absurd numbers, input PostgreSQL cannot store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from src.activities.actions import ActionActivities
from src.domain.actions import ActionRequest
from src.store import events
from src.store.tables import CampaignCounter
from tests.guide import ok, post_action
from tests.support import Tenant, wait_for_event

ACTIONS = "/api/audience/internal/actions"


async def test_overlapping_plan_attempts_plan_once(tenant: Tenant, engine: AsyncEngine) -> None:
    """A retry that overlaps a slow attempt must reuse its plan, not reserve limits again."""
    await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "once",
                "triggers": [{"type": "offline_only"}],
                "effects": [{"type": "add_points", "config": {"amount": 1}}],
                "limits": {"maxPerUser": 1},
            },
        )
    )
    async with engine.begin() as conn:  # accepted but never started: the test runs the plan
        (accepted,) = await events.accept_many(
            conn,
            tenant.org_id,
            [(ActionRequest(userId="u", action="offline_only"), None)],
            datetime.now(UTC),
        )
        await events.mark_started(conn, [accepted.event_id])
        (action,) = [
            a for a in await events.claim_unstarted(conn, 1000) if a.event_id == accepted.event_id
        ] or [None]
    assert action is None  # marked started: the relay leaves it alone
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(events.Event).where(events.Event.id == accepted.event_id))
        ).one()
    action = events.to_input(row)
    activities = ActionActivities(engine)
    first, second = await asyncio.gather(
        activities.plan_action(action), activities.plan_action(action)
    )
    assert first == second and len(first.effects) == 1 and first.limited == []
    async with engine.connect() as conn:
        counts = (
            (
                await conn.execute(
                    select(CampaignCounter.count).where(CampaignCounter.org_id == tenant.org_id)
                )
            )
            .scalars()
            .all()
        )
    assert counts == [1]


async def test_absurd_numbers_never_leave_an_event_stuck(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/users", json={"id": "big"}))
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "per unit",
                "triggers": [{"type": "spend"}],
                "effects": [{"type": "add_points", "config": {"multiplier": 1000}}],
            },
        )
    )
    for amount in (1e30, 1e300, 123456789012345.0):
        event = await wait_for_event(
            tenant,
            await post_action(
                tenant, {"userId": "big", "action": "spend", "data": {"amount": amount}}
            ),
        )
        assert event["status"] == "processed" and event["effects"] == []
    simulated = await tenant.http.post(
        "/v1/simulate", json={"userId": "big", "action": "spend", "data": {"amount": 1e300}}
    )
    assert simulated.status_code == 200 and simulated.json()["campaigns"][0]["effects"] == []
    too_big = await tenant.http.post(
        "/v1/campaigns",
        json={
            "name": "x",
            "triggers": [{"type": "spend"}],
            "limits": {"maxTotal": 3_000_000_000},
            "effects": [{"type": "add_points", "config": {"amount": 1}}],
        },
    )
    assert too_big.status_code == 422


async def test_unstorable_input_is_a_client_error(tenant: Tenant) -> None:
    http = tenant.http
    for raw in (
        b'{"userId":"a\\u0000b","action":"x"}',
        b'{"userId":"u","action":"x","data":{"n":1e400}}',
        b'{"userId":"u","action":"x","data":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ):
        reply = await http.post(ACTIONS, content=raw, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400, reply.text
    ancient = await http.post(
        ACTIONS, json={"userId": "u", "action": "x", "timestamp": "0001-01-01T00:00:00+05:00"}
    )
    assert (
        ancient.status_code == 422 and ancient.json()["error"]["details"][0]["field"] == "timestamp"
    )
    assert (await http.get("/v1/transactions", params={"cursor": "txn_²"})).status_code == 422
    assert (
        await http.get("/v1/transactions", params={"cursor": "txn_99999999999999999999"})
    ).status_code == 422
    nul = await http.get("/api/audience/transactions", params={"userId": "a\x00b"})
    assert nul.status_code == 422 and nul.json()["error"]["code"] == "invalid_value"
    huge_stock = await http.post("/v1/products", json={"name": "x", "stock": 2**40})
    assert huge_stock.status_code == 422
