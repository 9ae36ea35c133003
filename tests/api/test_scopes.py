"""Every reply shows only what the caller's scopes allow; merge and erasure need users:admin."""

from __future__ import annotations

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from src.store import keys
from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import Tenant, wait_for_event

# What these tests accept must also be processed.
pytestmark = pytest.mark.usefixtures("worker")

PERSONAL = ("email", "phone", "externalIds", "balances", "products", "codes")


@pytest_asyncio.fixture
async def guided(tenant: Tenant) -> Tenant:
    """The guide's setup with one processed purchase: user_123 holds points, a badge, a code."""
    await setup_guide(tenant)
    await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))
    return tenant


async def headers(engine: AsyncEngine, tenant: Tenant, *scopes: str) -> dict[str, str]:
    async with engine.begin() as conn:
        _, secret = await keys.create(conn, tenant.org_id, "narrow", list(scopes))
    return {"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": tenant.org_id}


async def test_user_replies_need_users_read(guided: Tenant, engine: AsyncEngine) -> None:
    writer = await headers(engine, guided, "users:write")
    http = guided.http
    patched = await ok(await http.patch("/v1/users/user_123", json={}, headers=writer), 200)
    assert patched["id"] == "user_123"
    assert all(patched[field] is None for field in PERSONAL)
    reader = await headers(engine, guided, "users:read")
    full = await ok(await http.get("/v1/users/user_123", headers=reader), 200)
    assert full["email"] == "user_123@example.com" and full["codes"] and full["balances"]

    taken = {"id": "someone", "email": "user_123@example.com"}
    blind = await http.post("/v1/users", json=taken, headers=writer)
    assert blind.status_code == 409 and "user_123" not in blind.text
    both = await headers(engine, guided, "users:write", "users:read")
    named = await http.post("/v1/users", json=taken, headers=both)
    assert named.status_code == 409 and named.json()["error"]["details"] == {"userId": "user_123"}


async def test_merge_and_erase_need_users_admin(guided: Tenant, engine: AsyncEngine) -> None:
    writer = await headers(engine, guided, "users:write", "users:read")
    await ok(await guided.http.post("/v1/users", json={"id": "other"}, headers=writer))
    merge = {"fromUserId": "other"}
    denied = await guided.http.post("/v1/users/user_123/merge", json=merge, headers=writer)
    assert denied.status_code == 403 and "users:admin" in denied.text
    assert (await guided.http.delete("/v1/users/other", headers=writer)).status_code == 403
    admin = await headers(engine, guided, "users:admin", "users:read")
    await ok(await guided.http.post("/v1/users/user_123/merge", json=merge, headers=admin), 200)


async def test_action_data_needs_actions_read(guided: Tenant, engine: AsyncEngine) -> None:
    event_id = await post_action(guided, {**FLOW_ACTION, "metadata": {"source": "pos"}})
    poster = await headers(engine, guided, "actions:write")
    path = f"/api/audience/internal/actions/{event_id}"
    seen = await ok(await guided.http.get(path, headers=poster), 200)
    assert seen["status"] and seen["userId"] is None
    assert seen["data"] is None and seen["metadata"] is None
    both = await headers(engine, guided, "actions:write", "actions:read")
    full = await ok(await guided.http.get(path, headers=both), 200)
    assert full["data"] == FLOW_ACTION["data"] and full["metadata"] == {"source": "pos"}


async def test_codes_in_ledgers_need_users_read(guided: Tenant, engine: AsyncEngine) -> None:
    ledger = await headers(engine, guided, "transactions:read")
    rows = await ok(await guided.http.get("/v1/transactions", headers=ledger), 200)
    assert {r["type"] for r in rows["data"]} == {"points", "product", "code"}
    assert all(r["code"] is None for r in rows["data"])
    both = await headers(engine, guided, "transactions:read", "users:read")
    rows = await ok(
        await guided.http.get("/api/audience/transactions?userId=user_123", headers=both), 200
    )
    assert any(r["code"] for r in rows["data"])


async def test_simulation_reveals_no_user_to_campaign_readers(
    guided: Tenant, engine: AsyncEngine
) -> None:
    http = guided.http
    await ok(await http.patch("/v1/org/settings", json={"userLookup": {"email": True}}), 200)
    await ok(
        await http.post(
            "/v1/campaigns",
            json={
                "name": "by email",
                "triggers": [
                    {
                        "type": "purchase_completed",
                        "conditions": [{"field": "user.email", "operator": "exists"}],
                    }
                ],
                "effects": [{"type": "add_points", "config": {"amount": 1}}],
            },
        )
    )
    reader = await headers(engine, guided, "campaigns:read")
    replies = {}
    for who in ("user_123@example.com", "nobody@example.com"):
        body = {**FLOW_ACTION, "userId": who}
        replies[who] = await ok(await http.post("/v1/simulate", json=body, headers=reader), 200)
    known, unknown = replies.values()
    assert known["user"]["resolvedUserId"] is None
    assert known == {**unknown, "user": {**unknown["user"], "userId": known["user"]["userId"]}}
    assert "user_123@example.com" not in str(known["campaigns"])
    full = await headers(engine, guided, "campaigns:read", "users:read")
    body = {**FLOW_ACTION, "userId": "user_123@example.com"}
    seen = await ok(await http.post("/v1/simulate", json=body, headers=full), 200)
    assert seen["user"]["resolvedUserId"] == "user_123"
    assert "user_123@example.com" in str(seen["campaigns"])
