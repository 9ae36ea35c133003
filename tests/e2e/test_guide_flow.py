"""The integration guide's "Example: Complete Integration Flow", over HTTP."""

from __future__ import annotations

import re

from tests.guide import FLOW_ACTION, GUIDE_ACTION, STEP2_CAMPAIGN, post_action, setup_guide
from tests.support import Tenant, wait_for_event


async def test_complete_integration_flow(tenant: Tenant) -> None:
    campaign = await setup_guide(tenant)
    assert campaign["status"] == "active" and campaign["version"] == 1
    assert campaign["name"] == STEP2_CAMPAIGN["name"]

    reply = await tenant.http.post("/api/audience/internal/actions", json=FLOW_ACTION)
    assert reply.status_code == 202
    body = reply.json()
    assert set(body) == {"eventId", "processed", "message"}
    assert re.fullmatch(r"evt_[0-9a-f-]{36}", body["eventId"])
    assert body["processed"] is False and body["message"] == "Action queued for processing"

    event = await wait_for_event(tenant, body["eventId"])
    assert event["status"] == "processed"
    assert event["workflowId"] == body["eventId"]
    assert event["matchedCampaigns"] == [campaign["id"]]
    assert [e["status"] for e in event["effects"]] == ["granted"] * 3

    txns = (
        await tenant.http.get("/api/audience/transactions", params={"userId": "user_123"})
    ).json()
    by_type = {t["type"]: t for t in txns["data"]}
    assert by_type["points"]["amount"] == 500 and by_type["points"]["balanceAfter"] == 500
    assert by_type["points"]["reason"] == "Purchase reward"
    assert by_type["product"]["productId"] == "prod_vip_badge"
    assert by_type["code"]["code"].startswith("CODE-")
    for txn in txns["data"]:
        assert txn["campaignId"] == campaign["id"] and txn["campaignVersion"] == 1
        assert txn["eventId"] == body["eventId"]

    user = (await tenant.http.get("/v1/users/user_123")).json()
    assert user["balances"] == {"points": 500}
    assert user["products"] == [{"productId": "prod_vip_badge", "quantity": 1}]
    assert len(user["codes"]) == 1

    v1 = (await tenant.http.get("/v1/transactions", params={"eventId": body["eventId"]})).json()
    assert len(v1["data"]) == 3


async def test_amount_below_threshold_grants_nothing(tenant: Tenant) -> None:
    await setup_guide(tenant)
    event_id = await post_action(tenant, {**FLOW_ACTION, "data": {"amount": 99, "currency": "USD"}})
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "processed"
    assert event["matchedCampaigns"] == [] and event["effects"] == []
    txns = (
        await tenant.http.get("/api/audience/transactions", params={"userId": "user_123"})
    ).json()
    assert txns["data"] == []


async def test_guide_request_body_example_is_accepted(tenant: Tenant) -> None:
    """The guide's full "Request Body" example, timestamp with Z, items and metadata."""
    await setup_guide(tenant)
    event_id = await post_action(tenant, GUIDE_ACTION)
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "processed" and event["timestamp"].startswith("2025-10-06T16:45:00")


async def test_unknown_user_is_skipped(tenant: Tenant) -> None:
    await setup_guide(tenant)
    event_id = await post_action(tenant, {**FLOW_ACTION, "userId": "nobody"})
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "skipped" and event["reason"] == "unknown_user"


async def test_proportional_points_floor(tenant: Tenant) -> None:
    await tenant.http.post("/v1/users", json={"id": "u1"})
    reply = await tenant.http.post(
        "/v1/campaigns",
        json={
            "name": "2 points per unit",
            "triggers": [
                {
                    "type": "order",
                    "conditions": [{"field": "items[].sku", "operator": "==", "value": "A"}],
                }
            ],
            "effects": [{"type": "add_points", "config": {"multiplier": 1.5, "field": "amount"}}],
        },
    )
    assert reply.status_code == 201, reply.text
    event_id = await post_action(
        tenant,
        {
            "userId": "u1",
            "action": "order",
            "data": {"amount": 10.99, "items": [{"sku": "B"}, {"sku": "A"}]},
        },
    )
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"
    user = (await tenant.http.get("/v1/users/u1")).json()
    assert user["balances"] == {"points": 16}  # floor(1.5 * 10.99) = floor(16.485)
