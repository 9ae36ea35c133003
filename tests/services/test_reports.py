"""Campaign analytics, computed from the ledger."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import Tenant, wait_for_events


async def test_campaign_analytics(tenant: Tenant, engine: AsyncEngine) -> None:
    campaign = await setup_guide(tenant, codes=2)
    await ok(await tenant.http.post("/v1/users", json={"id": "u2"}))
    ids = [
        await post_action(tenant, {**FLOW_ACTION, "userId": u, "timestamp": "2025-10-06T12:00:00Z"})
        for u in ("user_123", "u2", "user_123")
    ]
    ids.append(await post_action(tenant, {**FLOW_ACTION, "data": {"amount": 1}}))  # no match
    await wait_for_events(engine, ids)
    report = await ok(await tenant.http.get(f"/v1/analytics/campaigns/{campaign['id']}"), 200)
    assert report["actionsMatched"] == 3 and report["usersRewarded"] == 2
    assert report["pointsIssued"] == 1500 and report["productsAwarded"] == 3
    assert report["codesAllocated"] == 2 and report["effectsFailed"] == {"pool_exhausted": 1}
    assert report["effectsSkipped"] == {}
    assert (
        report["perDay"][0]["date"] == "2025-10-06" and report["perDay"][0]["actionsMatched"] == 3
    )
    assert (await tenant.http.get("/v1/analytics/campaigns/cmp_nope")).status_code == 404
