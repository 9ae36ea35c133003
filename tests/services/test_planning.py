"""Planning under contention: overlapping attempts plan once, a plan takes its user before its
event (the lock order merges use), and absurd numbers never leave an event stuck."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from src.domain.actions import ActionInput, ActionRequest
from src.services.planning import Planner
from src.store import events, outbox, plans
from src.store.tables import CampaignCounter, Event, User
from src.workflows.starter import TemporalRuns
from tests.guide import ok, post_action
from tests.support import ACTIONS, Tenant, wait_for_event


async def unstarted(
    tenant: Tenant,
    engine: AsyncEngine,
    action: str,
    user: str = "u",
    data: dict[str, Any] | None = None,
) -> ActionInput:
    """An accepted event the relay leaves alone (marked started): the test runs its plan."""
    request = ActionRequest(userId=user, action=action, data=data or {})
    async with engine.begin() as conn:
        (accepted,) = await events.accept_many(
            conn, tenant.org_id, [(request, None)], datetime.now(UTC)
        )
        await outbox.mark_started(conn, [accepted.event_id])
    return await stored_input(engine, accepted.event_id)


async def stored_input(engine: AsyncEngine, event_id: str) -> ActionInput:
    async with engine.connect() as conn:
        row = (await conn.execute(select(events.Event).where(events.Event.id == event_id))).one()
    return events.to_input(row)


async def campaign(tenant: Tenant, action: str, points: int, **extra: Any) -> str:
    body = {
        "name": f"{points} points",
        "triggers": [{"type": action}],
        "effects": [{"type": "add_points", "config": {"amount": points}}],
    }
    return str((await ok(await tenant.http.post("/v1/campaigns", json=body | extra)))["id"])


async def test_overlapping_plan_attempts_plan_once(tenant: Tenant, engine: AsyncEngine) -> None:
    """A retry that overlaps a slow attempt must reuse its plan, not reserve limits again."""
    await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
    await campaign(tenant, "offline_only", 1, limits={"maxPerUser": 1})
    action = await unstarted(tenant, engine, "offline_only")
    planner = Planner(engine)
    first, second = await asyncio.gather(planner.plan(action), planner.plan(action))
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


async def test_unlocked_plan_attempts_store_one_plan(tenant: Tenant, engine: AsyncEngine) -> None:
    """Without limits the plan is stored without a transaction: overlapping attempts, and a
    retry after the campaign changed, all get the plan stored first."""
    await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
    campaign_id = await campaign(tenant, "tap_in", 5)
    action = await unstarted(tenant, engine, "tap_in")
    planner = Planner(engine)
    attempts = await asyncio.gather(*(planner.plan(action) for _ in range(8)))
    assert all(p == attempts[0] for p in attempts) and len(attempts[0].effects) == 1
    assert attempts[0].effects[0].amount == 5 and attempts[0].effects[0].campaign_version == 1
    edit = {"effects": [{"type": "add_points", "config": {"amount": 7}}]}
    await ok(await tenant.http.patch(f"/v1/campaigns/{campaign_id}", json=edit), 200)
    assert await planner.plan(action) == attempts[0]  # a retry is judged as before
    async with engine.begin() as conn:
        other = attempts[0].model_copy(update={"effects": []})
        assert not await plans.save_plan(conn, action.event_id, other)
        assert await plans.lock_plan(conn, action.event_id) == attempts[0]


async def test_stale_attempts_never_replace_or_reopen_a_plan(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """An attempt of a run that already moved on reuses the stored plan, a skipped one too,
    and leaves a settled event settled."""
    await campaign(tenant, "gate_in", 3)
    planner = Planner(engine)
    ghost = await unstarted(tenant, engine, "gate_in", user="ghost")
    skipped = await planner.plan(ghost)
    assert skipped.status == "skipped"
    await ok(await tenant.http.post("/v1/users", json={"id": "ghost"}))
    assert await planner.plan(ghost) == skipped  # judged as before, not afresh
    assert (await ok(await tenant.http.get(f"{ACTIONS}/{ghost.event_id}"), 200))["status"] == (
        "skipped"
    )
    settled = await wait_for_event(
        tenant, await post_action(tenant, {"userId": "ghost", "action": "gate_in"})
    )
    assert settled["status"] == "processed" and len(settled["effects"]) == 1
    late = await planner.plan(await stored_input(engine, settled["eventId"]))
    assert [e.key for e in late.effects] == [settled["effects"][0]["key"]]
    after = await ok(await tenant.http.get(f"{ACTIONS}/{settled['eventId']}"), 200)
    assert after["status"] == "processed"


async def test_a_merge_waits_for_a_reservation_in_flight(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """A plan holds its user shared while it reserves, so a merge cannot move counters past a
    reservation not yet committed: the survivor's counter includes it."""
    for user in ("a", "b"):
        await ok(await tenant.http.post("/v1/users", json={"id": user}))
    campaign_id = await campaign(tenant, "gate_in", 3, limits={"maxPerUser": 1, "maxTotal": 9})
    action = await unstarted(tenant, engine, "gate_in", user="a")
    total = (CampaignCounter.org_id == tenant.org_id) & (CampaignCounter.scope == "total")
    async with engine.begin() as conn:
        await conn.execute(
            insert(CampaignCounter).values(
                org_id=tenant.org_id, campaign_id=campaign_id, scope="total", count=0, points=0
            )
        )
    async with engine.begin() as conn:  # the total counter, locked: the plan stops there
        await conn.execute(select(CampaignCounter).where(total).with_for_update())
        plan = asyncio.create_task(Planner(engine).plan(action))
        await asyncio.sleep(0.5)
        merge = asyncio.create_task(tenant.http.post("/v1/users/b/merge", json={"fromUserId": "a"}))
        await asyncio.sleep(0.5)
        assert not plan.done() and not merge.done()  # the merge waits for the plan's user
    assert len((await plan).effects) == 1
    assert (await merge).status_code == 200
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(CampaignCounter.scope, CampaignCounter.count)
            .where(CampaignCounter.org_id == tenant.org_id)
            .order_by(CampaignCounter.scope)
        )
        assert [tuple(r) for r in rows] == [("total", 1), ("user:b", 1)]


async def test_a_plan_takes_its_user_before_its_event(tenant: Tenant, engine: AsyncEngine) -> None:
    """Erasure locks the user, then rewrites the user's events; a plan reserving limits must
    take them in the same order, or each waits for the other (a deadlock)."""
    await ok(await tenant.http.post("/v1/users", json={"id": "a"}))
    await campaign(tenant, "gate_in", 3, limits={"maxPerUser": 1})
    action = await unstarted(tenant, engine, "gate_in", user="a")
    async with engine.begin() as conn:  # an erasure's order: the user row, then the events
        await conn.execute(
            select(User.id).where(User.org_id == tenant.org_id, User.id == "a").with_for_update()
        )
        plan = asyncio.create_task(Planner(engine).plan(action))
        await asyncio.sleep(0.5)
        await conn.execute(
            update(events.Event)
            .where(events.Event.id == action.event_id)
            .values(updated_at=func.now())
        )
        assert not plan.done()
    assert len((await plan).effects) == 1


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


async def test_a_refund_waits_outside_the_window_then_gives_up_once_waited_out(
    tenant: Tenant, engine: AsyncEngine, client: Client
) -> None:
    """A refund whose purchase is accepted but unsettled is planned ``waiting`` (stored on the
    event, not counted by the relay's window, no plan kept); planned as waited out, skipped."""
    refunds = {"purchase_refunded": {"reverses": "purchase_completed", "match": "data.orderId"}}
    await ok(await tenant.http.patch("/v1/org/settings", json={"reversalActions": refunds}), 200)
    order = {"orderId": "ORD-9"}
    purchase = await unstarted(tenant, engine, "purchase_completed", data=order)
    refund = await unstarted(tenant, engine, "purchase_refunded", data=order)
    planner = Planner(engine, TemporalRuns(client, "unused"))
    waiting = await planner.plan(refund)
    assert (waiting.status, waiting.reason) == ("waiting", f"waiting_for:{purchase.event_id}")
    async with engine.connect() as conn:
        row = (await conn.execute(select(Event).where(Event.id == refund.event_id))).one()
        in_flight = await conn.execute(outbox._IN_FLIGHT)
    assert (row.status, row.reason, row.plan) == ("waiting", waiting.reason, None)
    assert {str(r.org_id): r.n for r in in_flight}.get(tenant.org_id) == 1  # the purchase only
    last = await planner.plan(refund.model_copy(update={"waited_out": True}))
    assert (last.status, last.reason) == ("skipped", "reversal_refused:not_settled")
