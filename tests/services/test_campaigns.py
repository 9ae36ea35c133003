"""Campaign lifecycle, immutable versions and typed triggers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from src.store import campaigns
from tests.guide import FLOW_ACTION, STEP1_TRIGGER, STEP2_CAMPAIGN, ok, post_action, setup_guide
from tests.support import ACTIONS, Tenant, wait_for_event


def with_conditions(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        **STEP2_CAMPAIGN,
        "triggers": [{"type": "purchase_completed", "conditions": list(conditions)}],
    }


async def test_lifecycle_transitions(tenant: Tenant) -> None:
    await setup_guide(tenant)
    draft = await ok(
        await tenant.http.post("/v1/campaigns", json={**STEP2_CAMPAIGN, "status": "draft"})
    )
    cid = draft["id"]
    assert draft["status"] == "draft"
    assert (await tenant.http.post(f"/v1/campaigns/{cid}/pause")).status_code == 409
    assert (await ok(await tenant.http.post(f"/v1/campaigns/{cid}/activate"), 200))[
        "status"
    ] == "active"
    assert (await ok(await tenant.http.post(f"/v1/campaigns/{cid}/pause"), 200))[
        "status"
    ] == "paused"
    paused = (await tenant.http.get("/v1/campaigns", params={"status": "paused"})).json()["data"]
    assert [c["id"] for c in paused] == [cid]
    listening = (
        await tenant.http.get("/v1/campaigns", params={"action": "purchase_completed"})
    ).json()
    assert cid in [c["id"] for c in listening["data"]]
    assert (await ok(await tenant.http.post(f"/v1/campaigns/{cid}/archive"), 200))[
        "status"
    ] == "archived"
    final = await tenant.http.post(f"/v1/campaigns/{cid}/activate")
    assert final.status_code == 409 and "archived is final" in final.json()["error"]["message"]
    assert (
        await tenant.http.patch(f"/v1/campaigns/{cid}", json={"priority": 3})
    ).status_code == 409


async def test_paused_campaign_does_not_fire(tenant: Tenant) -> None:
    campaign = await setup_guide(tenant)
    await ok(await tenant.http.post(f"/v1/campaigns/{campaign['id']}/pause"), 200)
    event = await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))
    assert event["matchedCampaigns"] == []
    await ok(await tenant.http.post(f"/v1/campaigns/{campaign['id']}/activate"), 200)
    event = await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))
    assert event["matchedCampaigns"] == [campaign["id"]]


async def test_planner_index_follows_status_versions_and_triggers(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """What the planner finds for an action is exactly the active campaigns listening to it,
    at their current version, through pauses, edits, trigger changes and archiving."""
    http = tenant.http
    body = {
        "name": "tap",
        "triggers": [{"type": "tap_in"}],
        "effects": [{"type": "add_points", "config": {"amount": 1}}],
    }
    cid = (await ok(await http.post("/v1/campaigns", json=body)))["id"]
    draft = (await ok(await http.post("/v1/campaigns", json=body | {"status": "draft"})))["id"]

    async def in_force(action: str) -> list[tuple[str, int]]:
        async with engine.connect() as conn:
            found = await campaigns.in_force(conn, tenant.org_id, action)
        return [(v.campaign_id, v.version) for v in found]

    assert await in_force("tap_in") == [(cid, 1)]
    await ok(await http.post(f"/v1/campaigns/{cid}/pause"), 200)
    assert await in_force("tap_in") == []
    moved = {"triggers": [{"type": "tap_out"}, {"type": "tap_in"}]}
    await ok(await http.patch(f"/v1/campaigns/{cid}", json=moved), 200)  # edited while paused
    assert await in_force("tap_in") == [] and await in_force("tap_out") == []
    await ok(await http.post(f"/v1/campaigns/{cid}/activate"), 200)
    assert await in_force("tap_in") == [(cid, 2)] and await in_force("tap_out") == [(cid, 2)]
    await ok(
        await http.patch(f"/v1/campaigns/{cid}", json={"triggers": [{"type": "tap_out"}]}), 200
    )
    assert await in_force("tap_in") == [] and await in_force("tap_out") == [(cid, 3)]
    await ok(await http.post(f"/v1/campaigns/{draft}/activate"), 200)
    assert await in_force("tap_in") == [(draft, 1)]
    await ok(await http.post(f"/v1/campaigns/{cid}/archive"), 200)
    assert await in_force("tap_out") == []


async def test_versions_are_immutable_and_recorded_on_grants(tenant: Tenant) -> None:
    campaign = await setup_guide(tenant)
    cid = campaign["id"]
    first = await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))
    edited = await ok(
        await tenant.http.patch(
            f"/v1/campaigns/{cid}",
            json={"effects": [{"type": "add_points", "config": {"amount": 50}}]},
        ),
        200,
    )
    assert edited["version"] == 2
    second = await wait_for_event(tenant, await post_action(tenant, FLOW_ACTION))
    versions = (await tenant.http.get(f"/v1/campaigns/{cid}/versions")).json()["data"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["effects"] == campaign["effects"]  # version 1 unchanged
    txns = (
        await tenant.http.get("/v1/transactions", params={"campaignId": cid, "limit": 100})
    ).json()["data"]
    by_event = {(t["eventId"], t["campaignVersion"]) for t in txns}
    assert (first["eventId"], 1) in by_event and (second["eventId"], 2) in by_event
    assert (await tenant.http.get("/v1/users/user_123")).json()["balances"] == {"points": 550}


async def test_conditions_are_checked_against_the_declared_trigger(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/triggers", json=STEP1_TRIGGER))
    cases = [
        ({"field": "amount", "operator": ">=", "value": "100"}, "does not fit number"),
        ({"field": "amont", "operator": ">=", "value": 100}, "not a field of trigger"),
        ({"field": "currency", "operator": ">", "value": 5}, "does not fit string"),
        ({"field": "amount", "operator": "starts_with", "value": "1"}, "does not apply to number"),
        ({"field": "currency", "operator": "in", "value": ["USD", 3]}, "does not fit string"),
    ]
    for condition, message in cases:
        ok_first = {"field": "amount", "operator": ">=", "value": 1}
        reply = await tenant.http.post("/v1/campaigns", json=with_conditions(ok_first, condition))
        assert reply.status_code == 422, condition
        detail = reply.json()["error"]["details"][0]
        assert detail["field"] == "triggers.0.conditions.1" and message in detail["message"]
    fine = with_conditions(
        {"field": "currency", "operator": "in", "value": ["USD"]},
        {"field": "metadata.source", "operator": "==", "value": "shopify"},
    )
    created = await ok(await tenant.http.post("/v1/campaigns", json=fine))
    bad_edit = await tenant.http.patch(
        f"/v1/campaigns/{created['id']}",
        json={
            "triggers": [
                {"type": "purchase_completed", "conditions": [{"field": "x", "operator": "exists"}]}
            ]
        },
    )
    assert bad_edit.status_code == 422


async def test_action_data_must_fit_the_declared_trigger(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/triggers", json=STEP1_TRIGGER))
    reply = await tenant.http.post(ACTIONS, json={**FLOW_ACTION, "data": {"amount": "abc"}})
    assert reply.status_code == 422
    assert reply.json()["error"]["details"] == [
        {
            "field": "data.amount",
            "message": "must be a number (trigger 'purchase_completed' declares it)",
        }
    ]
    batch = await tenant.http.post(
        "/api/audience/internal/actions/batch",
        json={"actions": [{**FLOW_ACTION, "data": {"amount": 1, "currency": 7}}, FLOW_ACTION]},
    )
    assert [r["status"] for r in batch.json()["results"]] == [422, 202]
    # Undeclared fields and undeclared actions are free-form.
    assert (
        await tenant.http.post(ACTIONS, json={**FLOW_ACTION, "data": {"amount": 5, "x": [1]}})
    ).status_code == 202
    assert (
        await tenant.http.post(
            ACTIONS,
            json={**FLOW_ACTION, "action": "other", "data": {"amount": "abc"}},
        )
    ).status_code == 202


async def test_trigger_crud(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/triggers", json=STEP1_TRIGGER))
    assert (await tenant.http.post("/v1/triggers", json=STEP1_TRIGGER)).status_code == 409
    changed = {**STEP1_TRIGGER, "fields": [{"key": "amount", "type": "string"}]}
    updated = await ok(await tenant.http.put("/v1/triggers/purchase_completed", json=changed), 200)
    assert updated["fields"] == [{"key": "amount", "type": "string", "description": None}]
    listed = (await tenant.http.get("/v1/triggers")).json()["data"]
    assert [t["key"] for t in listed] == ["purchase_completed"]
    # The edited type applies to ingestion at once in this process.
    assert (
        await tenant.http.post(ACTIONS, json={**FLOW_ACTION, "data": {"amount": 5}})
    ).status_code == 422
    assert (await tenant.http.delete("/v1/triggers/purchase_completed")).status_code == 204
    assert (await tenant.http.get("/v1/triggers/purchase_completed")).status_code == 404
