"""Users and identity: the guide's "Mapping Users" contract, enrolment, merge and erasure."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from src.store.tables import (
    BacktestCounter,
    BacktestUser,
    Balance,
    Event,
    LedgerEntry,
    WebhookDelivery,
)
from tests.backtesting import finished
from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import (
    Tenant,
    free_port,
    ledger_consistent,
    make_tenant,
    wait_for_event,
    wait_for_events,
)

SHOPIFY_ID = 820982911946154508
# The body the guide's Shopify webhook handler sends (order.customer.id is a JSON number).
SHOPIFY_BODY: dict[str, Any] = {
    "userId": SHOPIFY_ID,
    "action": "purchase_completed",
    "timestamp": "2025-10-06T16:45:00-04:00",
    "data": {
        "orderId": 450789469,
        "amount": 150.0,
        "currency": "USD",
        "items": [{"sku": "IPOD2008PINK", "quantity": 1, "price": 150.0}],
    },
    "metadata": {"source": "shopify", "orderNumber": "#1001"},
}


async def test_shopify_customer_reaches_the_mapped_user(tenant: Tenant) -> None:
    await setup_guide(tenant, user="")
    created = await ok(
        await tenant.http.post(
            "/v1/users",
            json={
                "id": "550e8400-e29b-41d4-a716-446655440000",
                "email": "Jane@Example.com",
                "externalIds": [{"source": "shopify", "externalId": str(SHOPIFY_ID)}],
            },
        )
    )
    assert created["email"] == "jane@example.com"
    assert created["externalIds"] == [{"source": "shopify", "externalId": str(SHOPIFY_ID)}]
    event = await wait_for_event(tenant, await post_action(tenant, SHOPIFY_BODY))
    assert event["status"] == "processed"
    assert event["userId"] == str(SHOPIFY_ID) and event["resolvedUserId"] == created["id"]
    txns = (
        await tenant.http.get("/api/audience/transactions", params={"userId": created["id"]})
    ).json()
    assert {t["type"] for t in txns["data"]} == {"points", "product", "code"}
    # The same number under another source is somebody else (unknown here).
    other = await wait_for_event(
        tenant, await post_action(tenant, {**SHOPIFY_BODY, "metadata": {"source": "pos"}})
    )
    assert other["status"] == "skipped"
    found = await tenant.http.get(
        "/api/audience/users", params={"externalId": str(SHOPIFY_ID), "source": "shopify"}
    )
    assert found.json()["userId"] == created["id"]


async def test_email_lookup_then_action_by_platform_id(tenant: Tenant) -> None:
    await setup_guide(tenant, user="")
    await ok(await tenant.http.post("/v1/users", json={"id": "550e8400", "email": "a@b.co"}))
    await ok(await tenant.http.patch("/v1/org/settings", json={"userLookup": {"email": True}}), 200)
    looked_up = (await tenant.http.get("/api/audience/users", params={"email": "A@B.co"})).json()
    assert looked_up["userId"] == "550e8400"
    event_id = await post_action(tenant, {**FLOW_ACTION, "userId": looked_up["userId"]})
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"
    # With email look-up enabled, the email itself also resolves.
    by_email = await wait_for_event(
        tenant, await post_action(tenant, {**FLOW_ACTION, "userId": "a@b.co"})
    )
    assert by_email["resolvedUserId"] == "550e8400"
    assert (await tenant.http.get("/v1/users/550e8400")).json()["balances"] == {"points": 1000}


async def test_phone_normalised_and_clashes_name_the_other_user(tenant: Tenant) -> None:
    http = tenant.http
    first = await ok(await http.post("/v1/users", json={"id": "p1", "phone": "+44 20 7946 0958"}))
    assert first["phone"] == "+442079460958"
    bad = await http.post("/v1/users", json={"id": "p2", "phone": "020 7946 0958"})
    assert bad.status_code == 422 and "phoneRegion" in bad.json()["error"]["message"]
    await ok(await http.patch("/v1/org/settings", json={"phoneRegion": "GB"}), 200)
    clash = await http.post("/v1/users", json={"id": "p2", "phone": "020 7946 0958"})
    assert clash.status_code == 409 and "'p1'" in clash.json()["error"]["message"]
    await ok(
        await http.post(
            "/v1/users", json={"id": "p2", "externalIds": [{"source": "crm", "externalId": "7"}]}
        )
    )
    taken = await http.post("/v1/users/p1/external-ids", json={"source": "crm", "externalId": "7"})
    assert taken.status_code == 409 and taken.json()["error"]["details"] == {"userId": "p2"}
    await ok(await http.patch("/v1/org/settings", json={"userLookup": {"phone": True}}), 200)
    found = await http.get("/api/audience/users", params={"phone": "+442079460958"})
    assert found.json()["userId"] == "p1"
    assert (
        await http.delete("/v1/users/p2/external-ids", params={"source": "crm", "externalId": "7"})
    ).status_code == 204
    await ok(
        await http.post("/v1/users/p1/external-ids", json={"source": "crm", "externalId": "7"})
    )
    patched = await ok(
        await http.patch("/v1/users/p1", json={"email": "P1@x.org", "phone": None}), 200
    )
    assert patched["email"] == "p1@x.org" and patched["phone"] is None


async def test_concurrent_first_actions_enroll_one_user(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    await setup_guide(tenant, user="", codes=20)
    await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
    body = {**FLOW_ACTION, "userId": "ext-42", "metadata": {"source": "app"}}
    ids = await asyncio.gather(*[post_action(tenant, body) for _ in range(10)])
    assert set((await wait_for_events(engine, ids)).values()) == {"processed"}
    users = (await tenant.http.get("/v1/users")).json()["data"]
    assert [u["id"] for u in users] == ["ext-42"]
    user = (await tenant.http.get("/v1/users/ext-42")).json()
    assert user["externalIds"] == [{"source": "app", "externalId": "ext-42"}]
    assert user["balances"] == {"points": 5000}
    await ledger_consistent(engine, tenant.org_id)


async def test_currencies(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/users", json={"id": "c1"}))
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "xp and points",
                "triggers": [{"type": "video_watched"}],
                "effects": [
                    {"type": "add_points", "config": {"amount": 10}},
                    {"type": "add_points", "config": {"amount": 3, "currency": "xp"}},
                ],
            },
        )
    )
    await wait_for_event(
        tenant, await post_action(tenant, {"userId": "c1", "action": "video_watched"})
    )
    user = (await tenant.http.get("/api/audience/users/c1")).json()
    assert user["balances"] == {"points": 10, "xp": 3}
    xp = (
        await tenant.http.get(
            "/api/audience/transactions", params={"userId": "c1", "currency": "xp"}
        )
    ).json()
    assert [(t["amount"], t["currency"]) for t in xp["data"]] == [(3, "xp")]


async def test_merge_moves_everything_and_keeps_totals(tenant: Tenant, engine: AsyncEngine) -> None:
    await setup_guide(tenant, user="")
    http = tenant.http
    await ok(
        await http.post(
            "/v1/users", json={"id": "keep", "externalIds": [{"source": "web", "externalId": "w1"}]}
        )
    )
    await ok(
        await http.post(
            "/v1/users",
            json={
                "id": "old",
                "email": "old@x.org",
                "externalIds": [{"source": "pos", "externalId": "p9"}],
            },
        )
    )
    ids = [await post_action(tenant, {**FLOW_ACTION, "userId": u}) for u in ("keep", "old", "old")]
    await wait_for_events(engine, ids)
    merged = await ok(await http.post("/v1/users/keep/merge", json={"fromUserId": "old"}), 200)
    assert merged["balances"] == {"points": 1500} and merged["email"] == "old@x.org"
    assert len(merged["codes"]) == 3 and merged["mergedLedgerEntries"] == 6
    assert {e["source"] for e in merged["externalIds"]} == {"web", "pos"}
    gone = await http.get("/v1/users/old")
    assert gone.status_code == 404 and gone.json()["error"]["details"] == {"mergedInto": "keep"}
    marker = (await http.get("/v1/transactions", params={"userId": "keep", "type": "merge"})).json()
    assert len(marker["data"]) == 1 and marker["data"][0]["amount"] == 0

    # Later actions naming the old user, directly or by its external ID, reach the survivor.
    late = [
        await post_action(tenant, {**FLOW_ACTION, "userId": "old"}),
        await post_action(tenant, {**FLOW_ACTION, "userId": "p9", "metadata": {"source": "pos"}}),
    ]
    await wait_for_events(engine, late)
    assert (await http.get("/v1/users/keep")).json()["balances"] == {"points": 2500}
    await ledger_consistent(engine, tenant.org_id)
    again = await http.post("/v1/users/keep/merge", json={"fromUserId": "old"})
    assert again.status_code == 404


async def test_erasure_keeps_totals_exact(tenant: Tenant, engine: AsyncEngine) -> None:
    await setup_guide(tenant)
    await ok(await tenant.http.patch("/v1/org/settings", json={"userLookup": {"email": True}}), 200)
    await wait_for_events(engine, [await post_action(tenant, FLOW_ACTION) for _ in range(2)])
    by_email = {**FLOW_ACTION, "userId": " User_123@example.com", "data": {"amount": 5}}
    early = [  # skipped: the external ID and phone reach the user only afterwards
        {**FLOW_ACTION, "userId": "ext-9", "metadata": {"source": "shop"}},
        {**FLOW_ACTION, "userId": "+44 20 7946 0958"},
        {**FLOW_ACTION, "userId": "x+442079460958"},  # someone else's ID, not a phone
    ]
    await wait_for_events(engine, [await post_action(tenant, body) for body in [by_email, *early]])
    external = {"source": "shop", "externalId": "ext-9"}
    await ok(await tenant.http.post("/v1/users/user_123/external-ids", json=external))
    await ok(await tenant.http.patch("/v1/users/user_123", json={"phone": "+442079460958"}), 200)

    async def totals() -> tuple[Any, Any]:
        async with engine.connect() as conn:
            balance = await conn.scalar(
                select(func.sum(Balance.balance)).where(Balance.org_id == tenant.org_id)
            )
            ledger = await conn.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.org_id == tenant.org_id)
            )
        return balance, ledger

    before = await totals()
    assert (await tenant.http.delete("/v1/users/user_123")).status_code == 204
    assert await totals() == before
    assert (await tenant.http.get("/v1/users/user_123")).status_code == 404
    lookup = await tenant.http.get("/api/audience/users", params={"email": "user_123@example.com"})
    assert lookup.status_code == 404
    mine = (
        await tenant.http.get("/api/audience/transactions", params={"userId": "user_123"})
    ).json()
    assert mine["data"] == []
    all_rows = (await tenant.http.get("/v1/transactions")).json()["data"]
    assert len(all_rows) == 6 and {t["userId"] for t in all_rows} != {"user_123"}
    assert all(t["userId"].startswith("anon_") for t in all_rows)
    await ledger_consistent(engine, tenant.org_id)
    async with engine.connect() as conn:
        names = [
            tuple(r)
            for r in await conn.execute(
                select(Event.user_id, Event.resolved_user_id, Event.plan).where(
                    Event.org_id == tenant.org_id
                )
            )
        ]
    theirs = [(u, r) for u, r, _ in names if u == "x+442079460958"]
    assert theirs == [("x+442079460958", None)]
    erased = [(u, r) for u, r, _ in names if u != "x+442079460958"]
    assert len(erased) == 5 and all(u.startswith("anon_") and r == u for u, r in erased)
    assert not [p for *_, p in names if p and "user_123" in json.dumps(p)]
    skipped = await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))
    assert skipped["status"] == "skipped"


async def test_cross_org_lookups_find_nothing(
    tenant: Tenant, engine: AsyncEngine, base_url: str
) -> None:
    await ok(
        await tenant.http.post(
            "/v1/users",
            json={
                "id": "u1",
                "email": "u1@x.org",
                "phone": "+14155550123",
                "externalIds": [{"source": "s", "externalId": "e1"}],
            },
        )
    )
    other = await make_tenant(engine, base_url)
    try:
        await ok(
            await other.http.patch(
                "/v1/org/settings", json={"userLookup": {"email": True, "phone": True}}
            ),
            200,
        )
        for params in (
            {"email": "u1@x.org"},
            {"phone": "+14155550123"},
            {"externalId": "e1", "source": "s"},
        ):
            assert (await other.http.get("/api/audience/users", params=params)).status_code == 404
        assert (await other.http.get("/api/audience/users/u1")).status_code == 404
        assert (
            await other.http.post("/v1/users/u1/merge", json={"fromUserId": "u1"})
        ).status_code in (404, 409)
        assert (await other.http.delete("/v1/users/u1")).status_code == 404
    finally:
        await other.http.aclose()
    assert (await tenant.http.get("/v1/users/u1")).status_code == 200


async def test_erasure_reaches_webhook_bodies_and_backtests(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    await setup_guide(tenant)
    url = f"http://127.0.0.1:{free_port()}/gone"  # refused: deliveries stay pending
    hook = await ok(
        await tenant.http.post("/v1/webhooks", json={"url": url, "events": ["reward.granted"]})
    )
    await wait_for_events(engine, [await post_action(tenant, FLOW_ACTION)])
    draft = {
        "name": "backtested",
        "status": "draft",
        "triggers": [{"type": "purchase_completed"}],
        "effects": [{"type": "add_points", "config": {"amount": 1}}],
        "limits": {"maxPerUser": 5},
    }
    campaign = await ok(await tenant.http.post("/v1/campaigns", json=draft))
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}
    started = await ok(
        await tenant.http.post(f"/v1/campaigns/{campaign['id']}/backtest", json=window), 202
    )
    assert (await finished(tenant, started["id"]))["result"]["distinctUsers"] == 1

    async def traces() -> tuple[list[str], list[str], list[str]]:
        async with engine.connect() as conn:
            bodies = await conn.scalars(
                select(WebhookDelivery.body).where(WebhookDelivery.webhook_id == hook["id"])
            )
            users = await conn.scalars(
                select(BacktestUser.user_id).where(BacktestUser.backtest_id == started["id"])
            )
            scopes = await conn.scalars(
                select(BacktestCounter.scope).where(BacktestCounter.backtest_id == started["id"])
            )
            return list(bodies), list(users), list(scopes)

    bodies, users, scopes = await traces()
    assert len(bodies) == 3 and all("user_123" in b for b in bodies)
    assert users == ["user_123"] and scopes == ["user:user_123"]
    assert (await tenant.http.delete("/v1/users/user_123")).status_code == 204
    bodies, users, scopes = await traces()
    assert len(bodies) == 3 and not [b for b in bodies if "user_123" in b]
    assert all(json.loads(b)["data"]["userId"].startswith("anon_") for b in bodies)
    assert (users, scopes) == ([], [])
    assert (await tenant.http.get(f"/v1/backtests/{started['id']}")).json()["result"][
        "distinctUsers"
    ] == 1  # the figures stay
    assert (await tenant.http.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204
