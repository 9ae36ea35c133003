"""Simulation explains what an action would do, and writes nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from src.store.tables import CampaignCounter, Event, LedgerEntry
from tests.guide import FLOW_ACTION, STEP2_CAMPAIGN, ok, post_action, setup_guide
from tests.support import Tenant, wait_for_event


async def counts(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.connect() as conn:
        return tuple(
            [
                await conn.scalar(select(func.count()).select_from(t)) or 0
                for t in (Event, LedgerEntry, CampaignCounter)
            ]
        )


async def test_simulation_explains_and_writes_nothing(tenant: Tenant, engine: AsyncEngine) -> None:
    campaign = await setup_guide(tenant)
    draft = await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                **STEP2_CAMPAIGN,
                "name": "draft",
                "status": "draft",
                "limits": {"maxPerUser": 1},
                "triggers": [
                    {
                        "type": "purchase_completed",
                        "conditions": [{"field": "amount", "operator": ">=", "value": 200}],
                    }
                ],
            },
        )
    )
    before = await counts(engine)
    reply = await ok(await tenant.http.post("/v1/simulate", json=FLOW_ACTION), 200)
    assert reply["wouldFire"] == [campaign["id"]]  # drafts only when named
    fired = reply["campaigns"][0]
    condition = fired["triggers"][0]["conditions"][0]
    assert condition == {
        "field": "amount",
        "operator": ">=",
        "value": 100,
        "resolved": [150],
        "passed": True,
    }
    assert [e["type"] for e in fired["effects"]] == ["add_points", "award_product", "allocate_code"]

    named = await ok(
        await tenant.http.post(
            "/v1/simulate", json={**FLOW_ACTION, "campaignIds": [campaign["id"], draft["id"]]}
        ),
        200,
    )
    by_id = {c["campaignId"]: c for c in named["campaigns"]}
    assert by_id[draft["id"]]["matched"] is False
    assert by_id[draft["id"]]["triggers"][0]["conditions"][0]["passed"] is False
    assert by_id[draft["id"]]["limits"][0] == {
        "limit": "maxPerUser",
        "scope": "user:user_123",
        "count": 0,
        "maxCount": 1,
        "points": 0,
        "pointsBudget": None,
        "wouldBlock": False,
    }
    unknown = await ok(
        await tenant.http.post("/v1/simulate", json={**FLOW_ACTION, "userId": "ghost"}), 200
    )
    assert unknown["user"]["resolvedUserId"] is None and unknown["wouldFire"] == []
    assert await counts(engine) == before


async def test_simulation_shows_a_limit_that_would_block(tenant: Tenant) -> None:
    await setup_guide(tenant)
    limited = await ok(
        await tenant.http.post(
            "/v1/campaigns", json={**STEP2_CAMPAIGN, "name": "once", "limits": {"maxPerUser": 1}}
        )
    )
    await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))
    reply = await ok(
        await tenant.http.post(
            "/v1/simulate", json={**FLOW_ACTION, "campaignIds": [limited["id"]]}
        ),
        200,
    )
    assert reply["campaigns"][0]["limits"][0]["wouldBlock"] is True
    assert reply["wouldFire"] == []
