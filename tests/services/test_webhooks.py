"""Webhooks: a receiver on 127.0.0.1 that answers 500 and then times out before it takes a
notification verifies every signature, and after de-duplicating by webhook-id holds exactly
the notifications that were written; private targets are refused unless the deployment
allows them."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowFailureError

from src.api.schemas.notifications import NOTIFICATIONS
from src.config import Settings
from src.domain.sealing import Sealer, new_key, parse_keys
from src.domain.webhooks import DeliveryInput, next_retry, public, retry_delay
from src.services.webhooks import (
    DeliveryFailed,
    Resolver,
    address_for,
    reseal,
    sealing_context,
)
from src.store.tables import Webhook, WebhookDelivery
from src.worker import build_webhook_relay
from src.workflows.deliver_webhook import DeliverWebhook
from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import (
    ACTIONS,
    TEST_PAYLOAD_KEYS,
    Receiver,
    Tenant,
    free_port,
    make_tenant,
    run_cli,
    until,
    wait_for_event,
    workflow_result,
)
from tests.workflows.test_relay import isolated_stack, receiver


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written here rather than borrowed from the code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig == f"v1,{expected}" for sig in headers["webhook-signature"].split())


async def deliveries(tenant: Tenant, webhook_id: str) -> list[dict[str, Any]]:
    reply = await tenant.http.get(f"/v1/webhooks/{webhook_id}/deliveries", params={"limit": 200})
    return list(reply.json()["data"])


async def test_signed_retried_deliveries_hold_exactly_what_was_written(
    tenant: Tenant, engine: AsyncEngine, webhook_receiver: tuple[Receiver, str]
) -> None:
    got, url = webhook_receiver
    events = ["reward.granted", "reward.reversed", "event.failed", "event.skipped"]
    hook = await ok(await tenant.http.post("/v1/webhooks", json={"url": url, "events": events}))
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in (await tenant.http.get(f"/v1/webhooks/{hook['id']}")).json()
    await setup_guide(tenant, codes=1)
    granted = await post_action(tenant, FLOW_ACTION)  # points, badge, the one code
    await wait_for_event(tenant, granted)
    short = await post_action(tenant, FLOW_ACTION)  # points, badge; the pool is empty
    assert (await wait_for_event(tenant, short))["status"] == "failed"
    ghost = await post_action(tenant, {**FLOW_ACTION, "userId": "ghost"})
    assert (await wait_for_event(tenant, ghost))["status"] == "skipped"
    await ok(await tenant.http.post(f"{ACTIONS}/{granted}/reverse"), 202)
    expected = {"reward.granted": 5, "event.failed": 1, "event.skipped": 1, "reward.reversed": 1}

    async def all_delivered() -> bool:
        found = await deliveries(tenant, hook["id"])
        return len(found) == sum(expected.values()) and all(
            d["status"] == "delivered" for d in found
        )

    await until(all_delivered, within=60)
    written = {d["id"]: d for d in await deliveries(tenant, hook["id"])}
    assert all(verified(hook["secret"], h, b) for h, b in got.seen)
    by_id: dict[str, set[bytes]] = {}
    for headers, body in got.seen:
        by_id.setdefault(headers["webhook-id"], set()).add(body)
    assert set(by_id) == set(written)  # nothing missing, nothing extra
    assert all(len(bodies) == 1 for bodies in by_id.values())  # retries resend the same bytes
    assert all(got.tries[msg] == 3 for msg in written)  # 500, too slow, accepted
    assert all(d["attempts"] == 3 and d["lastStatus"] == 204 for d in written.values())
    kinds = [json.loads(next(iter(b)))["type"] for b in by_id.values()]
    assert {k: kinds.count(k) for k in expected} == expected
    for bodies in by_id.values():  # each body is exactly its published model (no extra field)
        body = next(iter(bodies))
        NOTIFICATIONS[json.loads(body)["type"]].model_validate_json(body)
    codes = [
        json.loads(next(iter(b)))["data"]["code"]
        for b in by_id.values()
        if json.loads(next(iter(b)))["data"].get("type") == "allocate_code"
    ]
    assert codes == ["CODE-00000"]
    (reversed_,) = [
        json.loads(next(iter(b)))["data"]
        for b in by_id.values()
        if json.loads(next(iter(b)))["type"] == "reward.reversed"
    ]
    assert (reversed_["productIds"], reversed_["revokedCodes"]) == (["prod_vip_badge"], codes)

    # A failed delivery is re-sent as it was: same webhook-id, body and signature.
    msg = next(iter(written))
    async with engine.begin() as conn:
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == msg)
            .values(status="failed", created_at=func.now() - timedelta(hours=1))
        )
    before = len([h for h, _ in got.seen if h["webhook-id"] == msg])
    resent = await tenant.http.post(f"/v1/webhooks/{hook['id']}/deliveries/{msg}/resend")
    assert resent.status_code == 202
    again = await tenant.http.post(f"/v1/webhooks/{hook['id']}/deliveries/{msg}/resend")
    assert again.status_code == 409  # pending again: only a failed one is re-sent

    async def redelivered() -> bool:
        async with engine.connect() as conn:
            status = await conn.scalar(
                select(WebhookDelivery.status).where(WebhookDelivery.id == msg)
            )
        return status == "delivered"

    await until(redelivered, within=30)
    sent = [(h, b) for h, b in got.seen if h["webhook-id"] == msg]
    assert len(sent) == before + 1 and len({b for _, b in sent}) == 1
    # Signed when sent, not when written: a verifier's 5-minute tolerance accepts it.
    assert verified(hook["secret"], *sent[-1])
    assert abs(int(sent[-1][0]["webhook-timestamp"]) - time.time()) < 300
    assert (await tenant.http.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204


async def test_private_targets_are_refused_unless_allowed() -> None:
    for address in (
        "10.1.2.3",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",  # carrier-grade NAT
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
        "fd00::1",
        "fe80::1",
        "ff02::1",
    ):
        assert not public(address), address
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"):
        assert public(address), address
    with pytest.raises(DeliveryFailed) as private:
        await address_for("localhost", 80, allow_private=False)
    with pytest.raises(DeliveryFailed) as absent:  # the same words: no probing of our names
        await address_for("nowhere.invalid", 80, False, Resolver(timeout=1.0))
    assert str(private.value).replace("localhost", "") == str(absent.value).replace(
        "nowhere.invalid", ""
    )
    assert await address_for("127.0.0.1", 80, allow_private=True) == "127.0.0.1"


async def test_webhook_bodies_are_checked(tenant: Tenant) -> None:
    for bad in (
        {"url": "ftp://example.com/x", "events": ["reward.granted"]},
        {"url": "https://user:pw@example.com/x", "events": ["reward.granted"]},
        {"url": "https://example.com/x", "events": []},
        {"url": "https://example.com/x", "events": ["reward.stolen"]},
    ):
        reply = await tenant.http.post("/v1/webhooks", json=bad)
        assert reply.status_code == 422, bad


async def test_a_pool_running_low_is_announced_once_per_restock(
    tenant: Tenant, engine: AsyncEngine, webhook_receiver: tuple[Receiver, str]
) -> None:
    _, url = webhook_receiver
    hook = await ok(
        await tenant.http.post("/v1/webhooks", json={"url": url, "events": ["pool.low_stock"]})
    )
    await setup_guide(tenant, codes=3)
    pool = "/v1/code-pools/pool_discounts"
    await ok(await tenant.http.patch(pool, json={"lowStockThreshold": 1}), 200)

    async def announced() -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            sent = list(
                await conn.scalars(
                    select(WebhookDelivery.body).where(WebhookDelivery.webhook_id == hook["id"])
                )
            )
        for body in sent:  # exactly its published model
            NOTIFICATIONS["pool.low_stock"].model_validate_json(body)
        return [json.loads(b)["data"] for b in sent]

    for _ in range(3):  # 2 free, then 1 (the threshold: announced), then 0 (said already)
        await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))
    assert await announced() == [{"poolId": "pool_discounts", "threshold": 1}]
    await ok(await tenant.http.post(f"{pool}/codes", json={"codes": ["NEW-1", "NEW-2"]}))
    await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))  # 1 free again
    assert len(await announced()) == 2
    assert (await tenant.http.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204


async def test_signing_secrets_are_sealed_at_rest_and_rotate(
    tenant: Tenant,
    engine: AsyncEngine,
    settings: Settings,
    webhook_receiver: tuple[Receiver, str],
) -> None:
    got, url = webhook_receiver
    hook = await ok(
        await tenant.http.post("/v1/webhooks", json={"url": url, "events": ["event.skipped"]})
    )

    async def stored() -> str:
        async with engine.connect() as conn:
            return str(await conn.scalar(select(Webhook.secret).where(Webhook.id == hook["id"])))

    keys = Sealer(parse_keys(TEST_PAYLOAD_KEYS))
    at_rest = await stored()
    assert hook["secret"].removeprefix("whsec_") not in at_rest
    assert keys.open(at_rest, sealing_context(hook["id"])) == hook["secret"]
    with pytest.raises(ValueError):  # bound to its row: copied onto another, it does not open
        keys.open(at_rest, sealing_context("wh_other"))

    rotated = await ok(await tenant.http.post(f"/v1/webhooks/{hook['id']}/rotate-secret"), 200)
    await setup_guide(tenant, codes=1)
    await wait_for_event(tenant, await post_action(tenant, {**FLOW_ACTION, "userId": "ghost"}))

    async def delivered() -> bool:
        found = await deliveries(tenant, hook["id"])
        return len(found) == 1 and found[0]["status"] == "delivered"

    await until(delivered, within=30)
    assert all(verified(rotated["secret"], h, b) for h, b in got.seen)
    assert not any(verified(hook["secret"], h, b) for h, b in got.seen)

    # A new payload key first: resealing moves every secret onto it; `loyalty reseal` back.
    fresh = new_key("fresh")
    changed, unopened = await reseal(engine, Sealer(parse_keys(f"{fresh},{TEST_PAYLOAD_KEYS}")))
    env = {"DATABASE_URL": settings.require_database_url()}
    try:
        assert changed >= 1 and unopened == []
        moved = await stored()
        opened = Sealer(parse_keys(fresh)).open(moved, sealing_context(hook["id"]))
        assert opened == rotated["secret"]
        with pytest.raises(ValueError):
            keys.open(moved, sealing_context(hook["id"]))
    finally:  # every webhook of the shared database back under the test key
        back = await run_cli("reseal", env=env | {"PAYLOAD_KEYS": f"{TEST_PAYLOAD_KEYS},{fresh}"})
    assert int(back.rsplit(":", 1)[1]) >= 1
    assert keys.open(await stored(), sealing_context(hook["id"])) == rotated["secret"]

    # A secret no key opens: each attempt says so, and `loyalty reseal` names the webhook.
    lost = Sealer(parse_keys(new_key("lost"))).seal("whsec_x", sealing_context(hook["id"]))
    async with engine.begin() as conn:
        await conn.execute(update(Webhook).where(Webhook.id == hook["id"]).values(secret=lost))
    await wait_for_event(tenant, await post_action(tenant, {**FLOW_ACTION, "userId": "ghost"}))

    async def said_why() -> bool:
        return any(
            "loyalty reseal" in (d["lastError"] or "") for d in await deliveries(tenant, hook["id"])
        )

    await until(said_why, within=30)
    named = await run_cli("reseal", env=env | {"PAYLOAD_KEYS": TEST_PAYLOAD_KEYS}, exit_code=1)
    assert "sealed again: 0" in named
    assert (await tenant.http.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204


GIVE_UP = 6.0  # room for three waits (1.1 s) between attempts slowed by a loaded machine


async def test_a_delivery_that_never_succeeds_ends_failed(
    fresh_database: Callable[[], Awaitable[str]], client: Client, settings: Settings
) -> None:
    """The receiver answers every attempt 503. Deployed with WEBHOOK_FIRST_RETRY_SECONDS=0.2,
    WEBHOOK_MAX_RETRY_SECONDS=0.5 and WEBHOOK_GIVE_UP_SECONDS=6, the relay's run waits as
    ``next_retry`` says (0.2 s, then twice as long each time up to 0.5 s) until the next
    attempt would start after the give-up time; then it marks the delivery failed
    (re-sendable)."""
    arrivals: list[float] = []

    async def refuse(_: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return web.Response(status=503)

    deployed = settings.model_copy(
        update={
            "webhook_first_retry_seconds": 0.2,
            "webhook_max_retry_seconds": 0.5,
            "webhook_give_up_seconds": GIVE_UP,
        }
    )
    queue = "loyalty-webhook-retry-test"
    async with (
        receiver(refuse) as url,
        isolated_stack(fresh_database, deployed, client, queue) as stack,
    ):
        tenant = await make_tenant(stack.engine, stack.base_url)
        hook = await ok(
            await tenant.http.post("/v1/webhooks", json={"url": url, "events": ["event.skipped"]})
        )
        await setup_guide(tenant, codes=1)
        await wait_for_event(tenant, await post_action(tenant, {**FLOW_ACTION, "userId": "ghost"}))
        (msg,) = [d["id"] for d in await deliveries(tenant, hook["id"])]
        assert await workflow_result(client, msg) == "failed"
        (found,) = await deliveries(tenant, hook["id"])
        await tenant.http.aclose()
    history = await client.get_workflow_handle(msg).fetch_history()
    waits = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        for e in history.events
        if e.HasField("timer_started_event_attributes")
    ]
    assert waits == [retry_delay(n, 0.2, 0.5) for n in range(1, len(waits) + 1)], waits
    assert waits[:3] == [0.2, 0.4, 0.5] and sum(waits) <= GIVE_UP, waits
    # Given up only once the next attempt would have started past the give-up time.
    started, closed = (
        e.event_time.ToDatetime(UTC) for e in (history.events[0], history.events[-1])
    )
    schedule = DeliveryInput(
        delivery_id=msg,
        org_id=tenant.org_id,
        first_retry_seconds=0.2,
        max_retry_seconds=0.5,
        give_up_seconds=GIVE_UP,
    )
    assert next_retry(schedule, len(waits) + 1, started, closed) is None
    # Each wait held, as the receiver saw it: no attempt came sooner than planned.
    assert len(arrivals) == len(waits) + 1 == found["attempts"], (arrivals, found)
    gaps = [later - earlier for earlier, later in pairwise(arrivals)]
    assert all(gap >= wait - 0.01 for gap, wait in zip(gaps, waits, strict=True)), gaps
    assert found["status"] == "failed" and found["lastStatus"] == 503, found


async def test_a_delivery_an_operator_cancels_ends_failed(
    tenant: Tenant, engine: AsyncEngine, client: Client, settings: Settings
) -> None:
    """Nobody listens at the target: each attempt records why. Cancelled by an operator, the
    run marks the delivery failed (re-sendable)."""
    url = f"http://127.0.0.1:{free_port()}/nobody"
    hook = await ok(
        await tenant.http.post("/v1/webhooks", json={"url": url, "events": ["event.skipped"]})
    )
    msg = f"msg_cancelled_{tenant.org_id[:8]}"
    async with engine.begin() as conn:  # started already: only this test's run delivers it
        await conn.execute(
            insert(WebhookDelivery).values(
                id=msg,
                org_id=tenant.org_id,
                webhook_id=hook["id"],
                type="event.skipped",
                body="{}",
                status="pending",
                started_at=func.now(),
            )
        )
    cancelled = await client.start_workflow(
        DeliverWebhook.run,
        DeliveryInput(
            delivery_id=msg,
            org_id=tenant.org_id,
            first_retry_seconds=0.2,
            max_retry_seconds=0.5,
            give_up_seconds=600.0,
            local_attempts=True,
        ),
        id=msg,
        task_queue=settings.webhook_task_queue,
    )

    async def delivery() -> dict[str, Any]:
        (found,) = await deliveries(tenant, hook["id"])
        return found

    async def attempted() -> bool:
        return (await delivery())["attempts"] >= 1

    await until(attempted, within=30)
    found = await delivery()
    assert found["lastStatus"] is None and "Connect" in found["lastError"], found
    await cancelled.cancel()
    with pytest.raises(WorkflowFailureError):
        await cancelled.result()
    assert (await delivery())["status"] == "failed"
    assert (await tenant.http.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204


def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of ``inflated`` zero bytes: about a thousandth of that on the wire."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [squeeze.compress(block) for _ in range(inflated >> 20)]
    return b"".join(parts) + squeeze.flush()


def resident_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field)))


@pytest.mark.serial  # peak memory (VmHWM)
async def test_a_receiver_that_answers_a_gzip_bomb_costs_the_worker_nothing(
    tenant: Tenant,
) -> None:
    """The receiver answers 200 with ~1 MB of gzip that inflates to 1 GiB. The worker runs in
    this process: its peak resident memory (VmHWM, reset first) stays within 50 MB of where
    it was, and the delivery is recorded by its status code."""
    bomb = gzip_bomb(1 << 30)
    assert len(bomb) < 4 << 20

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            status=200, body=bomb, headers={"Content-Encoding": "gzip"}, content_type="text/plain"
        )

    app = web.Application()
    app.router.add_post("/bomb", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}/bomb"
        hook = await ok(
            await tenant.http.post("/v1/webhooks", json={"url": url, "events": ["event.skipped"]})
        )
        await setup_guide(tenant, codes=1)
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = resident_kib("VmRSS:")
        await wait_for_event(tenant, await post_action(tenant, {**FLOW_ACTION, "userId": "ghost"}))

        async def delivered() -> bool:
            found = await deliveries(tenant, hook["id"])
            return len(found) == 1 and found[0]["status"] == "delivered"

        await until(delivered, within=30)
        peak = resident_kib("VmHWM:")
    finally:
        await runner.cleanup()
    (found,) = await deliveries(tenant, hook["id"])
    assert found["lastStatus"] == 200 and found["attempts"] == 1
    assert peak - before < 50 * 1024, f"peak {peak - before} KiB above the start"


async def test_the_webhook_cap_holds_under_concurrent_creates(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    async def create(i: int) -> int:
        body = {"url": f"https://hooks.example.com/{i}", "events": ["event.failed"]}
        return (await tenant.http.post("/v1/webhooks", json=body)).status_code

    codes = await asyncio.gather(*(create(i) for i in range(30)))
    assert sorted(codes) == [201] * 20 + [422] * 10
    async with engine.connect() as conn:
        kept = await conn.scalar(
            select(func.count()).select_from(Webhook).where(Webhook.org_id == tenant.org_id)
        )
    assert kept == 20


async def test_old_delivered_and_failed_deliveries_are_deleted_in_batches(
    tenant: Tenant, engine: AsyncEngine, client: Client, settings: Settings
) -> None:
    hook = await ok(
        await tenant.http.post(
            "/v1/webhooks",
            json={"url": "https://hooks.example.com/old", "events": ["event.failed"]},
        )
    )
    rows = [
        {
            "id": f"msg_{status}_{age}_{hook['id']}",
            "org_id": tenant.org_id,
            "webhook_id": hook["id"],
            "type": "event.failed",
            "body": "{}",
            "status": status,
            "started_at": func.now(),
            "updated_at": func.now() - timedelta(days=age),
        }
        for status in ("delivered", "failed", "pending")
        for age in (40, 1)
    ]
    async with engine.begin() as conn:
        for row in rows:
            await conn.execute(insert(WebhookDelivery).values(**row))
    relay = build_webhook_relay(client, engine, settings)
    while await relay.purge_once():
        pass
    async with engine.connect() as conn:
        left = set(
            await conn.scalars(
                select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == hook["id"])
            )
        )
    kept = {r["id"] for r in rows if r["status"] == "pending" or "_1_" in r["id"]}
    assert left == kept
