"""Campaign limits hold under concurrency: never one grant too many."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from tests.guide import ok, post_action
from tests.support import Faults, Tenant, ledger_consistent, wait_for_events, workflow_result


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
    """Per-period limits count by when actions were accepted: three actions dated on three
    past days are one day's; the budget counts the points of every user's firings."""
    for user in ("p", "q"):
        await ok(await tenant.http.post("/v1/users", json={"id": user}))
    limits = {"pointsBudget": 35, "perUserPerPeriod": {"count": 2, "period": "day"}}
    await limited_campaign(tenant, limits)
    now = datetime.now(UTC)
    sent = [("p", 3), ("p", 2), ("p", 1), ("q", 0), ("q", 0)]  # (user, days ago)
    reasons = []
    for user, days in sent:  # one at a time, so which limit refuses is deterministic
        stamp = (now - timedelta(days=days)).isoformat()
        event_id = await post_action(
            tenant, {"userId": user, "action": "checkin", "timestamp": stamp}
        )
        await wait_for_events(engine, [event_id])
        limited = (await tenant.http.get(f"/api/audience/internal/actions/{event_id}")).json()
        reasons.append(
            limited["limitedCampaigns"][0]["reason"] if limited["limitedCampaigns"] else None
        )
    assert reasons == [
        None,
        None,
        "limit_reached:perUserPerPeriod",
        None,
        "limit_reached:maxTotal/pointsBudget",
    ]
    assert (await tenant.http.get("/v1/users/p")).json()["balances"] == {"points": 20}


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


async def test_merged_users_share_their_limits(tenant: Tenant, engine: AsyncEngine) -> None:
    """A merge adds the merged user's firings to the survivor's counters: a once-per-user
    reward the merged account had is not granted again, nor one more today."""
    http = tenant.http
    await limited_campaign(
        tenant, {"maxPerUser": 2, "perUserPerPeriod": {"count": 3, "period": "day"}}
    )
    for user in ("guest", "member"):
        await ok(await http.post("/v1/users", json={"id": user}))
    first = await post_action(tenant, {"userId": "guest", "action": "checkin"})
    assert (await wait_for_events(engine, [first]))[first] == "processed"
    await ok(await http.post("/v1/users/member/merge", json={"fromUserId": "guest"}), 200)
    reasons = []
    for who in ("member", "member", "guest"):  # the guest's ID now names the survivor
        event_id = await post_action(tenant, {"userId": who, "action": "checkin"})
        await wait_for_events(engine, [event_id])
        described = (await http.get(f"/api/audience/internal/actions/{event_id}")).json()
        reasons.append([c["reason"] for c in described["limitedCampaigns"]])
    assert reasons == [[], ["limit_reached:maxPerUser"], ["limit_reached:maxPerUser"]]
    assert await grants(tenant) == 2  # maxPerUser 2: the guest's grant and the member's first
    assert (await http.get("/v1/users/member")).json()["balances"] == {"points": 20}
    async with engine.connect() as conn:
        scopes = await conn.scalars(
            text("SELECT scope FROM campaign_counters WHERE org_id = CAST(:o AS uuid)"),
            {"o": tenant.org_id},
        )
        assert not [s for s in scopes if "guest" in s]
    await ledger_consistent(engine, tenant.org_id)


async def counter_counts(engine: AsyncEngine, org_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT scope, count FROM campaign_counters WHERE org_id = CAST(:o AS uuid)"),
            {"o": org_id},
        )
        return {r.scope: r.count for r in rows}


async def code_campaign(tenant: Tenant, limits: dict, points: int = 0) -> None:  # type: ignore[type-arg]
    """A limited campaign granting a code from an empty pool (plus points, if any)."""
    http = tenant.http
    await ok(await http.post("/v1/code-pools", json={"id": "few", "name": "few codes"}))
    effects = [{"type": "allocate_code", "config": {"poolId": "few"}}]
    if points:
        effects.insert(0, {"type": "add_points", "config": {"amount": points}})
    await ok(
        await http.post(
            "/v1/campaigns",
            json={
                "name": "a code",
                "triggers": [{"type": "checkin"}],
                "effects": effects,
                "limits": limits,
            },
        )
    )


async def add_codes(tenant: Tenant, count: int) -> None:
    codes = [f"C-{i}" for i in range(count)]
    await ok(await tenant.http.post("/v1/code-pools/few/codes", json={"codes": codes}))


async def replay(tenant: Tenant, event_id: str, engine: AsyncEngine) -> str:
    await ok(await tenant.http.post(f"/api/audience/internal/actions/{event_id}/replay"), 202)
    return (await wait_for_events(engine, [event_id]))[event_id]


async def test_a_firing_that_plans_nothing_reserves_nothing(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """Fifty cents earns no point (the multiplier floors to 0), so it must not use up the
    day's once-per-user reward."""
    await ok(await tenant.http.post("/v1/users", json={"id": "shopper"}))
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "a point a dollar, once a day",
                "triggers": [{"type": "checkin"}],
                "effects": [{"type": "add_points", "config": {"multiplier": 1}}],
                "limits": {"perUserPerPeriod": {"count": 1, "period": "day"}, "maxPerUser": 5},
            },
        )
    )
    cents = await post_action(
        tenant, {"userId": "shopper", "action": "checkin", "data": {"amount": 0.5}}
    )
    assert (await wait_for_events(engine, [cents]))[cents] == "processed"
    assert await counter_counts(engine, tenant.org_id) == {}
    dollars = await post_action(
        tenant, {"userId": "shopper", "action": "checkin", "data": {"amount": 150}}
    )
    await wait_for_events(engine, [dollars])
    assert (await tenant.http.get("/v1/users/shopper")).json()["balances"] == {"points": 150}


async def test_a_firing_whose_effects_all_failed_is_released(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """An empty pool fails the once-per-user code: the user keeps the right to it; a replay of
    the failed event after the one chance was used elsewhere is refused by the limit."""
    await ok(await tenant.http.post("/v1/users", json={"id": "fan"}))
    await code_campaign(tenant, {"maxPerUser": 1})
    first = await post_action(tenant, {"userId": "fan", "action": "checkin"})
    assert (await wait_for_events(engine, [first]))[first] == "failed"
    assert await counter_counts(engine, tenant.org_id) == {"user:fan": 0}
    await add_codes(tenant, 5)
    second = await post_action(tenant, {"userId": "fan", "action": "checkin"})
    assert (await wait_for_events(engine, [second]))[second] == "processed"
    assert await replay(tenant, first, engine) == "failed"
    described = (await tenant.http.get(f"/api/audience/internal/actions/{first}")).json()
    assert described["reason"] == "limit_reached:maxPerUser"
    assert await counter_counts(engine, tenant.org_id) == {"user:fan": 1}
    assert len((await tenant.http.get("/v1/users/fan")).json()["codes"]) == 1


async def test_a_partial_firing_keeps_its_reservation(tenant: Tenant, engine: AsyncEngine) -> None:
    """Points granted and the code failed: the firing counts; its replay grants the code
    without reserving again."""
    await ok(await tenant.http.post("/v1/users", json={"id": "fan"}))
    await code_campaign(tenant, {"maxPerUser": 1}, points=10)
    first = await post_action(tenant, {"userId": "fan", "action": "checkin"})
    assert (await wait_for_events(engine, [first]))[first] == "failed"
    second = await post_action(tenant, {"userId": "fan", "action": "checkin"})
    await wait_for_events(engine, [second])
    described = (await tenant.http.get(f"/api/audience/internal/actions/{second}")).json()
    assert described["limitedCampaigns"][0]["reason"] == "limit_reached:maxPerUser"
    await add_codes(tenant, 5)
    assert await replay(tenant, first, engine) == "processed"
    assert await counter_counts(engine, tenant.org_id) == {"user:fan": 1}
    user = (await tenant.http.get("/v1/users/fan")).json()
    assert user["balances"] == {"points": 10} and len(user["codes"]) == 1
    await ledger_consistent(engine, tenant.org_id)


async def test_a_retried_release_gives_back_once(
    tenant: Tenant, engine: AsyncEngine, faults: Faults, client: Client
) -> None:
    """The attempt that recorded the failure and released the firing dies after its commit;
    the retry finds the firing released and moves no counter again."""
    await ok(await tenant.http.post("/v1/users", json={"id": "fan"}))
    await code_campaign(tenant, {"maxPerUser": 1, "maxTotal": 10})
    faults.fail_after_commit.add(tenant.org_id)
    try:
        event_id = await post_action(tenant, {"userId": "fan", "action": "checkin"})
        assert await workflow_result(client, event_id) == "failed"
    finally:
        faults.fail_after_commit.discard(tenant.org_id)
    described = (await tenant.http.get(f"/api/audience/internal/actions/{event_id}")).json()
    assert faults.attempts[described["effects"][0]["key"]] == 2  # failed, died, retried
    assert await counter_counts(engine, tenant.org_id) == {"total": 0, "user:fan": 0}


async def test_racing_replays_never_pass_the_cap(tenant: Tenant, engine: AsyncEngine) -> None:
    await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
    await code_campaign(tenant, {"maxTotal": 3})
    failed = []
    for i in range(6):  # one after another: each gives its unit back before the next
        failed.append(await post_action(tenant, {"userId": f"r{i}", "action": "checkin"}))
        assert (await wait_for_events(engine, failed[-1:]))[failed[-1]] == "failed"
    assert await counter_counts(engine, tenant.org_id) == {"total": 0}
    await add_codes(tenant, 10)
    outcomes = await asyncio.gather(*[replay(tenant, e, engine) for e in failed])
    assert sorted(outcomes) == ["failed"] * 3 + ["processed"] * 3
    assert await counter_counts(engine, tenant.org_id) == {"total": 3}
    codes = (await tenant.http.get("/v1/transactions", params={"type": "code"})).json()
    assert len(codes["data"]) == 3
