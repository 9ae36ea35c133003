"""The outbox relay is fair and cannot be stalled: a row Temporal will never take fails alone,
and one org's backlog waits in PostgreSQL while other orgs' actions go straight through."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from src.config import Settings
from src.domain.webhooks import EVENT_TYPES
from src.store import orgs, outbox, webhooks
from src.store.db import make_engine
from src.store.tables import Event, Reversal, WebhookDelivery
from tests.guide import ok, post_action
from tests.support import (
    ACTIONS,
    Tenant,
    api_server,
    free_port,
    make_tenant,
    settled_count,
    until,
    wait_for_events,
    worker_and_relay,
    worker_process,
)


def test_room_is_dealt_to_the_least_busy_orgs() -> None:
    """Room goes to the org with the fewest in flight, never past the per-org window."""
    assert outbox.deal(5, 3, {"a": 0, "b": 2, "c": 3}) == {"a": 3, "b": 1}
    assert outbox.deal(4, 10, {"a": 1, "b": 0}) == {"a": 2, "b": 2}
    assert outbox.deal(2, 10, {"a": 0, "b": 0, "c": 0}) == {"a": 1, "b": 1}
    assert outbox.deal(0, 10, {"a": 0}) == {}


@dataclass
class Stack:
    engine: AsyncEngine
    settings: Settings
    base_url: str


@contextlib.asynccontextmanager
async def isolated_stack(
    fresh_database: Callable[[], Awaitable[str]],
    settings: Settings,
    client: Client,
    queue: str,
    own_process: bool = False,
) -> AsyncIterator[Stack]:
    """A database, task queue, worker (with relay) and API of the test's own: its relay sees
    only its events. ``own_process`` runs the worker as deployed, in a process of its own."""
    isolated = settings.model_copy(
        update={"database_url": await fresh_database(), "task_queue": queue}
    )
    engine = make_engine(isolated.require_database_url(), 10)
    worker = worker_process(isolated) if own_process else worker_and_relay(client, engine, isolated)
    try:
        async with api_server(isolated) as base_url, worker:
            yield Stack(engine, isolated, base_url)
    finally:
        await engine.dispose()


def nested(depth: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    level = data
    for _ in range(depth):
        level["a"] = {}
        level = level["a"]
    return data


async def points_campaign(tenant: Tenant, action: str) -> None:
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "a point per visit",
                "triggers": [{"type": action}],
                "effects": [{"type": "add_points", "config": {"amount": 1}}],
            },
        )
    )


async def busy_and_quiet(stack: Stack, action: str) -> tuple[Tenant, Tenant]:
    """Two orgs with a points campaign on ``action`` and users u0…u19; the first, which
    will have a backlog, without a rate limit in its way."""
    a = await make_tenant(stack.engine, stack.base_url)
    b = await make_tenant(stack.engine, stack.base_url)
    async with stack.engine.begin() as conn:
        await orgs.set_rate_limit(conn, a.org_id, 100_000, 100_000)
    for tenant in (a, b):
        await points_campaign(tenant, action)
        for i in range(20):
            await ok(await tenant.http.post("/v1/users", json={"id": f"u{i}"}))
    return a, b


async def neighbour_latency(stack: Stack, tenant: Tenant, action: str) -> float:
    """Seconds from accepting one action of ``tenant`` to its settling."""
    event_id = await post_action(tenant, {"userId": "u0", "action": action})
    await wait_for_events(stack.engine, [event_id], within=30)
    async with stack.engine.connect() as conn:
        row = (
            await conn.execute(
                select(Event.created_at, Event.updated_at).where(Event.id == event_id)
            )
        ).one()
    return float((row.updated_at - row.created_at).total_seconds())


@pytest.mark.serial  # times how soon the good rows settle
async def test_poison_rows_fail_alone(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings, client: Client
) -> None:
    """100 rows no workflow can be started for (their data nests beyond what the data converter
    serialises), oldest in the outbox, beside 100 good actions: the good ones settle, the
    poison ones end failed with the reason."""
    async with isolated_stack(fresh_database, settings, client, "loyalty-poison-test") as stack:
        tenant = await make_tenant(stack.engine, stack.base_url)
        await points_campaign(tenant, "visit")
        await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
        poison = [f"evt_{uuid.uuid4()}" for _ in range(100)]
        rejected_before = settled_count("failed", "start_rejected")
        async with stack.engine.begin() as conn:
            await conn.execute(
                insert(Event.__table__),
                [
                    {
                        "id": event_id,
                        "org_id": tenant.org_id,
                        "user_id": "u",
                        "action": "visit",
                        "occurred_at": datetime.now(UTC),
                        "data": nested(255),
                        "metadata": {},
                        "fingerprint": "poison",
                        "status": "queued",
                    }
                    for event_id in poison
                ],
            )
        started = time.perf_counter()
        good = await asyncio.gather(
            *[post_action(tenant, {"userId": "u", "action": "visit"}) for _ in range(100)]
        )
        statuses = await wait_for_events(stack.engine, good, within=60)
        settled_in = time.perf_counter() - started
        failed = await wait_for_events(stack.engine, poison, within=60)
        async with stack.engine.connect() as conn:
            reasons = set(await conn.scalars(select(Event.reason).where(Event.id.in_(poison))))
        await tenant.http.aclose()
    assert set(statuses.values()) == {"processed"}
    assert set(failed.values()) == {"failed"}
    assert len(reasons) == 1
    reason = reasons.pop()
    assert reason.startswith("start_rejected: PydanticSerializationError"), reason
    assert settled_count("failed", "start_rejected") == rejected_before + 100
    assert settled_in < 30, f"the good actions took {settled_in:.1f}s"


@pytest.mark.serial  # fairness: a latency
async def test_one_org_backlog_does_not_delay_another(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings, client: Client
) -> None:
    """Org A queues 3,000 actions, then org B posts one: B's action settles within 2 s."""
    fair = isolated_stack(fresh_database, settings, client, "loyalty-fair-test", own_process=True)
    async with fair as stack:
        a, b = await busy_and_quiet(stack, "visit")
        for start in range(0, 3000, 100):
            batch = [{"userId": f"u{i % 20}", "action": "visit"} for i in range(start, start + 100)]
            await ok(await a.http.post(f"{ACTIONS}/batch", json={"actions": batch}), 202)
        await asyncio.sleep(1)  # A's first workflows are running, its backlog is queued
        latency = await neighbour_latency(stack, b, "visit")
        async with stack.engine.connect() as conn:
            a_left = await conn.scalar(
                select(Event.id).where(Event.org_id == a.org_id, Event.status == "queued").limit(1)
            )
        for tenant in (a, b):
            await tenant.http.aclose()
    assert a_left is not None, "A's backlog was gone before B posted: the test proves nothing"
    assert latency < 2, f"B's action took {latency:.2f}s behind A's backlog"


EVENTS = list(EVENT_TYPES)
REFUND = {"purchase_refunded": {"reverses": "purchase_completed", "match": "data.orderId"}}


def orders(action: str, numbers: range) -> list[dict[str, Any]]:
    return [
        {"userId": f"u{n % 20}", "action": action, "data": {"orderId": f"ORD-{n}"}} for n in numbers
    ]


@pytest.mark.serial  # a latency
async def test_refunds_waiting_for_their_purchases_hold_no_slot(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings, client: Client
) -> None:
    """Behind a backlog, 70 refunds accepted before their 70 purchases (more than the org's
    window of 32), then 50 refunds and their 50 purchases in one batch (one ``created_at``):
    every purchase is processed and reversed, every refund processed, and another org's
    action settles within 2 s while the refunds wait."""
    narrow = settings.model_copy(update={"relay_window_per_org": 32})
    async with isolated_stack(fresh_database, narrow, client, "loyalty-refunds-test") as stack:
        a, b = await busy_and_quiet(stack, "purchase_completed")
        await ok(await a.http.patch("/v1/org/settings", json={"reversalActions": REFUND}), 200)

        async def batch(actions: list[dict[str, Any]]) -> list[str]:
            reply = await ok(await a.http.post(f"{ACTIONS}/batch", json={"actions": actions}), 202)
            return [item["eventId"] for item in reply["results"]]

        backlog = [{"userId": f"u{i % 20}", "action": "visit"} for i in range(100)]
        for _ in range(3):
            await batch(backlog)
        refunds = await batch(orders("purchase_refunded", range(70)))
        purchases = await batch(orders("purchase_completed", range(70)))
        together = await batch(
            orders("purchase_refunded", range(70, 120))
            + orders("purchase_completed", range(70, 120))
        )
        refunds, purchases = refunds + together[:50], purchases + together[50:]

        async def waiting() -> bool:
            async with stack.engine.connect() as conn:
                return bool(await conn.scalar(select(Event.id).where(Event.status == "waiting")))

        await until(waiting, within=60)
        latency = await neighbour_latency(stack, b, "purchase_completed")
        statuses = await wait_for_events(stack.engine, refunds + purchases, within=240)

        async def all_reversed() -> bool:  # each refund's reversal runs once it is requested
            async with stack.engine.connect() as conn:
                done = await conn.scalar(
                    select(func.count()).where(
                        Reversal.event_id.in_(purchases), Reversal.status != "queued"
                    )
                )
            return done == len(purchases)

        await until(all_reversed, within=60)
        async with stack.engine.connect() as conn:
            reversed_ = set(
                await conn.scalars(select(Reversal.status).where(Reversal.event_id.in_(purchases)))
            )
        balances = [
            (await a.http.get(f"/v1/users/u{i}")).json()["balances"].get("points", 0)
            for i in range(20)
        ]
        for tenant in (a, b):
            await tenant.http.aclose()
    assert {statuses[p] for p in purchases} == {"processed"}
    assert {statuses[r] for r in refunds} == {"processed"}
    assert reversed_ == {"completed"}
    assert set(balances) == {0}
    assert latency < 2, f"B's action took {latency:.2f}s while A's refunds waited"


@contextlib.asynccontextmanager
async def receiver(handle: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[str]:
    """A webhook receiver on loopback; yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


@pytest.mark.serial  # a latency
async def test_a_receiver_that_never_answers_holds_only_its_own_window(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings, client: Client
) -> None:
    """Org A's receiver never answers (each attempt waits the deployment's 10 s timeout) and
    1,000 of its deliveries are due; org B's notification is delivered within 2 s, and A has
    no more runs started than its window."""

    async def never(_: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response(status=204)

    async def at_once(_: web.Request) -> web.Response:
        return web.Response(status=204)

    deployed = settings.model_copy(update={"webhook_timeout_seconds": 10.0})
    queue = "loyalty-webhook-fair-test"
    async with (
        isolated_stack(fresh_database, deployed, client, queue) as stack,
        receiver(never) as dead,
        receiver(at_once) as alive,
    ):
        a = await make_tenant(stack.engine, stack.base_url)
        b = await make_tenant(stack.engine, stack.base_url)
        hooks = {}
        for tenant, url in ((a, dead), (b, alive)):
            made = await tenant.http.post("/v1/webhooks", json={"url": url, "events": EVENTS})
            hooks[tenant.org_id] = (await ok(made))["id"]
            await tenant.http.aclose()
        async with stack.engine.begin() as conn:
            await conn.execute(
                insert(WebhookDelivery),
                [
                    {
                        "id": f"msg_dead{i}",
                        "org_id": a.org_id,
                        "webhook_id": hooks[a.org_id],
                        "type": "event.skipped",
                        "body": "{}",
                        "status": "pending",
                    }
                    for i in range(1000)
                ],
            )
        await asyncio.sleep(2)  # A's first attempts are waiting on its receiver
        async with stack.engine.begin() as conn:
            await webhooks.notify(conn, b.org_id, "event.skipped", {"eventId": "evt_b"})
        query = select(WebhookDelivery).where(WebhookDelivery.org_id == b.org_id)

        async def delivered() -> bool:
            async with stack.engine.connect() as conn:
                return (await conn.execute(query)).one().status == "delivered"

        await until(delivered, within=30)
        async with stack.engine.connect() as conn:
            row = (await conn.execute(query)).one()
            a_started = await conn.scalar(
                select(func.count()).where(
                    WebhookDelivery.org_id == a.org_id, WebhookDelivery.started_at.is_not(None)
                )
            )
    latency = (row.delivered_at - row.created_at).total_seconds()
    assert latency < 2, f"B's notification took {latency:.2f}s behind A's dead receiver"
    assert a_started == deployed.webhook_window_per_hook
