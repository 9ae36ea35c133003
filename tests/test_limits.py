"""Campaign limits hold under concurrency: never one grant too many."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.limits import Limits, counters, period_key
from tests.guide import ok, post_action
from tests.support import Tenant, wait_for_events
from tests.test_exactly_once import ledger_consistent


async def limited_campaign(tenant: Tenant, limits: dict, points: int = 10) -> str:  # type: ignore[type-arg]
    created = await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "limited",
                "triggers": [{"type": "checkin"}],
                "effects": [{"type": "add_points", "config": {"amount": points}}],
                "limits": limits,
            },
        )
    )
    return str(created["id"])


async def grants(tenant: Tenant) -> int:
    rows = (
        await tenant.http.get("/v1/transactions", params={"type": "points", "limit": 200})
    ).json()
    return len(rows["data"])


async def test_max_per_user_under_100_concurrent_actions(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    await ok(await tenant.http.post("/v1/users", json={"id": "racer"}))
    await limited_campaign(tenant, {"maxPerUser": 1})
    ids = await asyncio.gather(
        *[post_action(tenant, {"userId": "racer", "action": "checkin"}) for _ in range(100)]
    )
    statuses = await wait_for_events(engine, ids)
    assert set(statuses.values()) == {"processed"}
    assert await grants(tenant) == 1
    assert (await tenant.http.get("/v1/users/racer")).json()["balances"] == {"points": 10}
    described = [
        (await tenant.http.get(f"/api/audience/internal/actions/{i}")).json() for i in ids[:20]
    ]
    limited = [d for d in described if d["limitedCampaigns"]]
    assert all(d["limitedCampaigns"][0]["reason"] == "limit_reached:maxPerUser" for d in limited)
    assert all(d["reason"] == "limit_reached" and d["effects"] == [] for d in limited)
    await ledger_consistent(engine, tenant.org_id)


async def test_max_total_across_200_users(tenant: Tenant, engine: AsyncEngine) -> None:
    await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
    await limited_campaign(tenant, {"maxTotal": 50})
    ids = await asyncio.gather(
        *[post_action(tenant, {"userId": f"m{i}", "action": "checkin"}) for i in range(200)]
    )
    await wait_for_events(engine, ids)
    assert await grants(tenant) == 50
    await ledger_consistent(engine, tenant.org_id)


async def test_points_budget_and_period(tenant: Tenant, engine: AsyncEngine) -> None:
    await ok(await tenant.http.post("/v1/users", json={"id": "p"}))
    await ok(await tenant.http.patch("/v1/org/settings", json={"timezone": "Europe/London"}), 200)
    limits = {"pointsBudget": 35, "perUserPerPeriod": {"count": 2, "period": "day"}}
    await limited_campaign(tenant, limits)
    stamps = [
        "2025-10-06T08:00:00Z",
        "2025-10-06T09:00:00Z",
        "2025-10-06T22:30:00Z",
        "2025-10-06T23:30:00Z",
        "2025-10-07T10:00:00Z",
    ]
    reasons = []
    for stamp in stamps:  # one at a time, so which limit refuses is deterministic
        event_id = await post_action(
            tenant, {"userId": "p", "action": "checkin", "timestamp": stamp}
        )
        await wait_for_events(engine, [event_id])
        limited = (await tenant.http.get(f"/api/audience/internal/actions/{event_id}")).json()
        reasons.append(
            limited["limitedCampaigns"][0]["reason"] if limited["limitedCampaigns"] else None
        )
    # 22:30Z is still 6 October in London (BST) and the day's third; 23:30Z is already the 7th;
    # the fifth fits the day but not the 35-point budget.
    assert reasons == [
        None,
        None,
        "limit_reached:perUserPerPeriod",
        None,
        "limit_reached:maxTotal/pointsBudget",
    ]
    assert (await tenant.http.get("/v1/users/p")).json()["balances"] == {"points": 30}


async def test_invalid_limits_rejected(tenant: Tenant) -> None:
    for bad in (
        {"maxPerUser": 0},
        {"perUserPerPeriod": {"count": 1, "period": "year"}},
        {"colour": 1},
    ):
        reply = await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "x",
                "triggers": [{"type": "a"}],
                "effects": [{"type": "add_points", "config": {"amount": 1}}],
                "limits": bad,
            },
        )
        assert reply.status_code == 422
        assert reply.json()["error"]["details"][0]["field"].startswith("limits")


def test_period_keys_follow_the_org_time_zone() -> None:
    late = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    assert period_key("day", late, ZoneInfo("UTC")) == "2025-12-31"
    assert period_key("day", late, ZoneInfo("Europe/Berlin")) == "2026-01-01"
    assert period_key("week", late, ZoneInfo("UTC")) == "2026-W01"
    assert period_key("month", late, ZoneInfo("America/New_York")) == "2025-12"
    scopes = [
        c.scope for c in counters(Limits(maxTotal=1, maxPerUser=1), "u", late, ZoneInfo("UTC"))
    ]
    assert scopes == ["total", "user:u"]


async def test_merged_users_share_their_limits(tenant: Tenant, engine: AsyncEngine) -> None:
    """A merge adds the merged user's firings to the survivor's counters: a once-per-user
    reward the merged account had is not granted again, nor one more today."""
    http = tenant.http
    await limited_campaign(
        tenant, {"maxPerUser": 2, "perUserPerPeriod": {"count": 1, "period": "day"}}
    )
    for user in ("guest", "member"):
        await ok(await http.post("/v1/users", json={"id": user}))
    first = await post_action(tenant, {"userId": "guest", "action": "checkin"})
    assert (await wait_for_events(engine, [first]))[first] == "processed"
    await ok(await http.post("/v1/users/member/merge", json={"fromUserId": "guest"}), 200)
    today = await post_action(tenant, {"userId": "member", "action": "checkin"})
    await wait_for_events(engine, [today])
    described = (await http.get(f"/api/audience/internal/actions/{today}")).json()
    assert described["limitedCampaigns"][0]["reason"] == "limit_reached:perUserPerPeriod"
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    later = [
        await post_action(
            tenant, {"userId": who, "action": "checkin", "timestamp": tomorrow.isoformat()}
        )
        for who in ("member", "guest")  # the guest's ID now names the survivor
    ]
    await wait_for_events(engine, later)
    assert await grants(tenant) == 2  # maxPerUser 2: the guest's grant and tomorrow's first
    assert (await http.get("/v1/users/member")).json()["balances"] == {"points": 20}
    async with engine.connect() as conn:
        scopes = await conn.scalars(
            text("SELECT scope FROM campaign_counters WHERE org_id = CAST(:o AS uuid)"),
            {"o": tenant.org_id},
        )
        assert not [s for s in scopes if "guest" in s]
    await ledger_consistent(engine, tenant.org_id)
