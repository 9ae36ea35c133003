"""Campaign bodies: validation that names the field, and versions."""

from __future__ import annotations

from tests.guide import STEP2_CAMPAIGN, ok
from tests.support import Tenant, error_of


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
