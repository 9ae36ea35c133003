"""Org B's key sees and changes nothing of org A."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.guide import FLOW_ACTION, post_action, setup_guide
from tests.support import Tenant, make_tenant, wait_for_event


async def test_other_org_reads_and_writes_nothing(
    tenant: Tenant, engine: AsyncEngine, base_url: str
) -> None:
    campaign = await setup_guide(tenant)
    event_id = await post_action(tenant, FLOW_ACTION)
    await wait_for_event(tenant, event_id)

    other = await make_tenant(engine, base_url)
    try:
        http = other.http
        assert (await http.get(f"/v1/campaigns/{campaign['id']}")).status_code == 404
        assert (await http.get("/v1/campaigns")).json()["data"] == []
        patch = await http.patch(f"/v1/campaigns/{campaign['id']}", json={"status": "paused"})
        assert patch.status_code == 404
        assert (await http.get("/v1/users/user_123")).status_code == 404
        assert (await http.get("/v1/users")).json()["data"] == []
        assert (await http.get(f"/api/audience/internal/actions/{event_id}")).status_code == 404
        assert (await http.get("/v1/transactions")).json()["data"] == []
        by_user = await http.get("/api/audience/transactions", params={"userId": "user_123"})
        assert by_user.json()["data"] == []
        assert (await http.get("/v1/products/prod_vip_badge")).status_code == 404
        assert (await http.get("/v1/code-pools/pool_discounts")).status_code == 404
        lookup = await http.get(
            "/api/audience/users", params={"externalId": "user_123", "source": "x"}
        )
        assert lookup.status_code == 404
        # Same IDs in org B are B's own and do not collide with A's.
        assert (await http.post("/v1/users", json={"id": "user_123"})).status_code == 201
        assert (
            await http.post("/v1/products", json={"id": "prod_vip_badge", "name": "B's"})
        ).status_code == 201

        # B's secret presented with A's org ID: right key, wrong org.
        forged = await http.get("/v1/campaigns", headers={"X-Monterosa-Org-ID": tenant.org_id})
        assert forged.status_code == 403
    finally:
        await http.aclose()

    # A still sees exactly its own state.
    user = (await tenant.http.get("/v1/users/user_123")).json()
    assert user["balances"] == {"points": 500}
    assert (await tenant.http.get(f"/v1/campaigns/{campaign['id']}")).json()["status"] == "active"
