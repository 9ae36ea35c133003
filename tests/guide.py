"""The integration guide's own bodies, and a helper that sets its flow up through the API."""

from __future__ import annotations

from typing import Any

from src.api.schemas.actions import GUIDE_ACTION
from src.api.schemas.campaigns import GUIDE_STEP_2
from src.api.schemas.triggers import GUIDE_STEP_1
from src.cli.demo import CODE_EFFECT
from tests.support import ACTIONS, Tenant

__all__ = ["GUIDE_ACTION"]
STEP1_TRIGGER = GUIDE_STEP_1
STEP2_CAMPAIGN = GUIDE_STEP_2
FLOW_ACTION = {
    "userId": "user_123",
    "action": "purchase_completed",
    "data": {"amount": 150, "currency": "USD"},
}


async def ok(reply: Any, status: int = 201) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    return dict(reply.json())


async def setup_guide(tenant: Tenant, codes: int = 10, user: str = "user_123") -> dict[str, Any]:
    """Trigger (Step 1), VIP badge, a code pool, and the Step 2 campaign plus a code effect."""
    http = tenant.http
    await ok(await http.post("/v1/triggers", json=STEP1_TRIGGER))
    await ok(await http.post("/v1/products", json={"id": "prod_vip_badge", "name": "VIP Badge"}))
    await ok(await http.post("/v1/code-pools", json={"id": "pool_discounts", "name": "Discounts"}))
    if codes:
        await ok(
            await http.post(
                "/v1/code-pools/pool_discounts/codes",
                json={"codes": [f"CODE-{i:05d}" for i in range(codes)]},
            )
        )
    if user:
        await ok(await http.post("/v1/users", json={"id": user, "email": f"{user}@example.com"}))
    campaign = {**STEP2_CAMPAIGN, "effects": [*STEP2_CAMPAIGN["effects"], CODE_EFFECT]}
    return await ok(await http.post("/v1/campaigns", json=campaign))


async def post_action(tenant: Tenant, body: dict[str, Any], key: str | None = None) -> str:
    headers = {"Idempotency-Key": key} if key else {}
    reply = await tenant.http.post(ACTIONS, json=body, headers=headers)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["eventId"])
