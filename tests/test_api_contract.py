"""The wire contract: auth, validation errors that name the field, the error shape."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from src.store import orgs
from tests.guide import FLOW_ACTION, STEP2_CAMPAIGN, ok, post_action, setup_guide
from tests.support import Tenant, make_tenant, wait_for_event

ACTIONS = "/api/audience/internal/actions"


def error_of(reply: object) -> dict[str, object]:
    body = reply.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


async def test_auth_401_vs_403(tenant: Tenant, engine: AsyncEngine, base_url: str) -> None:
    http = tenant.http
    missing = await http.post(ACTIONS, json=FLOW_ACTION, headers={"Authorization": ""})
    assert missing.status_code == 401 and error_of(missing)["code"] == "unauthorized"
    wrong = await http.post(ACTIONS, json=FLOW_ACTION, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    no_org = await http.post(ACTIONS, json=FLOW_ACTION, headers={"X-Monterosa-Org-ID": ""})
    assert no_org.status_code == 401
    other_org = await http.post(
        ACTIONS,
        json=FLOW_ACTION,
        headers={"X-Monterosa-Org-ID": "00000000-0000-0000-0000-000000000000"},
    )
    assert other_org.status_code == 403

    reader = await make_tenant(engine, base_url, scopes=["users:read"])
    try:
        denied = await reader.http.post(ACTIONS, json=FLOW_ACTION)
        assert denied.status_code == 403 and "actions:write" in str(error_of(denied)["message"])
    finally:
        await reader.http.aclose()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "purchase_completed"}, "userId"),
        ({"userId": "u"}, "action"),
        ({"userId": "u", "action": "has space"}, "action"),
        ({"userId": "u", "action": "x" * 65}, "action"),
        ({"userId": "u", "action": "a", "timestamp": "2025-10-06T16:45:00"}, "timestamp"),
        ({"userId": "u", "action": "a", "timestamp": "yesterday"}, "timestamp"),
        ({"userId": "u", "action": "a", "data": [1, 2]}, "data"),
        ({"userId": "u", "action": "a", "metadata": "shopify"}, "metadata"),
        ({"userId": ["u"], "action": "a"}, "userId"),
        ({"userId": "", "action": "a"}, "userId"),
        ({"userId": "u", "action": "a", "extra": 1}, "extra"),
    ],
)
async def test_bad_action_bodies_name_the_field(tenant: Tenant, body: dict, field: str) -> None:
    reply = await tenant.http.post(ACTIONS, json=body)
    assert reply.status_code == 422, reply.text
    error = error_of(reply)
    assert error["code"] == "validation_failed"
    assert field in [d["field"] for d in error["details"]]  # type: ignore[union-attr]
    assert str(error["message"]).startswith(field)


async def test_malformed_and_oversized_bodies(tenant: Tenant) -> None:
    http = tenant.http
    malformed = await http.post(
        ACTIONS, content=b'{"userId": ', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and error_of(malformed)["code"] == "malformed_json"
    not_object = await http.post(ACTIONS, json=[FLOW_ACTION])
    assert not_object.status_code == 422
    nan = await http.post(ACTIONS, content=b'{"userId":"u","action":"a","data":{"x":NaN}}')
    assert nan.status_code == 400
    big = {**FLOW_ACTION, "data": {"blob": "x" * 70_000}}
    too_large = await http.post(ACTIONS, content=json.dumps(big).encode())
    assert too_large.status_code == 413 and error_of(too_large)["code"] == "payload_too_large"


async def test_timestamps_and_numeric_user_ids_are_accepted(tenant: Tenant) -> None:
    await setup_guide(tenant, user="")
    await ok(await tenant.http.post("/v1/users", json={"id": "820982911946154508"}))
    for stamp in (
        "2025-10-06T16:45:00Z",
        "2025-10-06T16:45:00.123456Z",
        "2025-10-06T18:45:00+02:00",
    ):
        event_id = await post_action(
            tenant, {**FLOW_ACTION, "userId": 820982911946154508, "timestamp": stamp}
        )
        event = await wait_for_event(tenant, event_id)
        assert event["resolvedUserId"] == "820982911946154508"
        assert event["timestamp"].startswith("2025-10-06T16:45:00")
        assert event["status"] == "processed"


async def test_campaign_validation_and_versions(tenant: Tenant) -> None:
    http = tenant.http
    bad_op = {
        **STEP2_CAMPAIGN,
        "triggers": [
            {"type": "t", "conditions": [{"field": "amount", "operator": "~=", "value": 1}]}
        ],
    }
    reply = await http.post("/v1/campaigns", json=bad_op)
    assert reply.status_code == 422
    assert error_of(reply)["details"][0]["field"] == "triggers.0.conditions.0.operator"  # type: ignore[index]
    bad_effect = {
        **STEP2_CAMPAIGN,
        "effects": [{"type": "add_points", "config": {"amount": "lots"}}],
    }
    reply = await http.post("/v1/campaigns", json=bad_effect)
    assert reply.status_code == 422 and "config.amount" in str(error_of(reply)["message"])

    created = await ok(await http.post("/v1/campaigns", json=STEP2_CAMPAIGN))
    same = await ok(
        await http.patch(f"/v1/campaigns/{created['id']}", json={"name": created["name"]}), 200
    )
    assert same["version"] == 1
    edited = await ok(await http.patch(f"/v1/campaigns/{created['id']}", json={"priority": 5}), 200)
    assert edited["version"] == 2 and edited["priority"] == 5
    paused = await ok(
        await http.patch(f"/v1/campaigns/{created['id']}", json={"status": "paused"}), 200
    )
    assert paused["status"] == "paused" and paused["version"] == 2
    unknown = await http.patch(f"/v1/campaigns/{created['id']}", json={"colour": "red"})
    assert unknown.status_code == 422


async def test_user_lookup_requires_the_org_switch(tenant: Tenant) -> None:
    http = tenant.http
    await ok(await http.post("/v1/users", json={"id": "550e8400", "email": "Jane@Example.com"}))
    denied = await http.get("/api/audience/users", params={"email": "jane@example.com"})
    assert denied.status_code == 403 and "PATCH /v1/org/settings" in str(
        error_of(denied)["message"]
    )
    await ok(await http.patch("/v1/org/settings", json={"userLookup": {"email": True}}), 200)
    found = await http.get("/api/audience/users", params={"email": "JANE@example.com"})
    assert found.status_code == 200 and found.json()["userId"] == "550e8400"
    missing = await http.get("/api/audience/users", params={"email": "nobody@example.com"})
    assert missing.status_code == 404
    clash = await http.post("/v1/users", json={"id": "other", "email": "jane@example.com"})
    assert clash.status_code == 409 and "550e8400" in str(error_of(clash)["message"])


async def test_health_endpoints(tenant: Tenant) -> None:
    assert (await tenant.http.get("/healthz")).json() == {"status": "ok"}
    ready = await tenant.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": "ok",
        "temporal": "ok",
    }


async def test_transactions_paginate(tenant: Tenant) -> None:
    await setup_guide(tenant)
    ids = [await post_action(tenant, FLOW_ACTION) for _ in range(3)]
    for event_id in ids:
        await wait_for_event(tenant, event_id)
    seen, cursor = [], None
    while True:
        params = {"userId": "user_123", "limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await tenant.http.get("/v1/transactions", params=params)).json()
        seen += [t["id"] for t in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 9
    bad = await tenant.http.get("/v1/transactions", params={"cursor": "zzz"})
    assert bad.status_code == 422


async def test_concurrent_settings_edits_all_survive(tenant: Tenant, engine: AsyncEngine) -> None:
    """Each edit merges its keys in one statement: none overwrites another's."""
    http = tenant.http
    patches = [{"timezone": "Europe/Rome"}, {"unknownUsers": "enroll"}, {"phoneRegion": "GB"}]

    async def operator_limit() -> None:
        async with engine.begin() as conn:
            assert await orgs.set_rate_limit(conn, tenant.org_id, 50, 80)

    replies = await asyncio.gather(
        *(http.patch("/v1/org/settings", json=p) for p in patches * 5), operator_limit()
    )
    assert all(r.status_code == 200 for r in replies[:-1])
    settings = await ok(await http.get("/v1/org/settings"), 200)
    assert settings["timezone"] == "Europe/Rome" and settings["unknownUsers"] == "enroll"
    assert settings["phoneRegion"] == "GB"
    async with engine.connect() as conn:
        stored = await orgs.get_settings(conn, tenant.org_id)
    assert stored.rateLimit is not None
    assert stored.rateLimit.model_dump() == {"perSecond": 50, "burst": 80}
