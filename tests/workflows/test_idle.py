"""An idle worker waits to be woken rather than polling: the relays look at the outbox less
and less often while it is empty, and a row written anywhere (an action accepted, a delivery
written) still starts at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio.client import Client

from src.config import Settings
from src.store import outbox, webhooks
from src.store.tables import WebhookDelivery
from src.workflows.idling import MAX_IDLE_SECONDS
from tests.guide import ok, post_action
from tests.support import Receiver, make_tenant, until, wait_for_events
from tests.workflows.test_relay import isolated_stack, points_campaign

pytestmark = pytest.mark.serial  # times how soon an idle worker starts what arrives

# Long enough for an empty outbox to take a relay to its longest wait, and for that to show.
SETTLING = 12.0
WATCHED = 2 * MAX_IDLE_SECONDS


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[str, float]]:
    """Patch ``module.name`` (which takes a connection first) to note the database and the
    loop time of every call: other tests' relays run in this process too."""
    calls: list[tuple[str, float]] = []
    original = getattr(module, name)

    async def counted(conn: AsyncConnection, *args: Any, **kwargs: Any) -> Any:
        calls.append((str(conn.engine.url.database), asyncio.get_running_loop().time()))
        return await original(conn, *args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


async def test_an_idle_worker_looks_seldom_and_starts_what_arrives_at_once(
    fresh_database: Callable[[], Awaitable[str]],
    settings: Settings,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    webhook_receiver: tuple[Receiver, str],
) -> None:
    """After the outbox has been empty a while, each relay makes at most a pass per
    MAX_IDLE_SECONDS; an action and the webhook delivery it writes then start within a
    second, which only the tables' notices can explain."""
    passes = counting(monkeypatch, outbox, "claim_fair")
    deliveries = counting(monkeypatch, webhooks, "claim")
    async with isolated_stack(fresh_database, settings, client, "loyalty-idle-test") as stack:
        tenant = await make_tenant(stack.engine, stack.base_url)
        await points_campaign(tenant, "visit")
        await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
        _, url = webhook_receiver
        await ok(
            await tenant.http.post("/v1/webhooks", json={"url": url, "events": ["reward.granted"]})
        )
        await asyncio.sleep(SETTLING)
        loop = asyncio.get_running_loop()
        watched_from = loop.time()
        await asyncio.sleep(WATCHED)
        ours = str(stack.engine.url.database)
        for calls in (passes, deliveries):
            idle = [t for database, t in calls if database == ours and t >= watched_from]
            assert len(idle) <= WATCHED / MAX_IDLE_SECONDS + 1, f"{len(idle)} passes while idle"

        posted = loop.time()
        event_id = await post_action(tenant, {"userId": "u", "action": "visit"})
        assert (await wait_for_events(stack.engine, [event_id], within=30))[event_id] == "processed"
        assert loop.time() - posted < 1.0, "an accepted action waited for the relay's timer"

        async def delivered() -> bool:
            async with stack.engine.connect() as conn:
                started = await conn.scalar(
                    select(WebhookDelivery.started_at).where(
                        WebhookDelivery.org_id == tenant.org_id
                    )
                )
            return started is not None

        await until(delivered, within=1.0)
        await tenant.http.aclose()
