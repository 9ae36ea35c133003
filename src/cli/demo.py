"""The demo org `loyalty dev` creates once: an all-scopes key, user ``user_123`` and the
integration guide's setup (trigger, VIP badge, discount-code pool, "Reward Purchases Over $100")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.campaigns import CampaignDefinition
from src.domain.triggers import TriggerDefinition
from src.store import campaigns, catalog, orgs, users
from src.store.tables import CodePool, Org, Product, Trigger

GUIDE_TRIGGER = {
    "key": "purchase_completed",
    "name": "Purchase Completed",
    "category": "commerce",
    "fields": [
        {"key": "amount", "type": "number", "description": "Purchase amount"},
        {"key": "currency", "type": "string"},
    ],
}
# Step 2's body verbatim; the demo adds the Complete Integration Flow's discount code to it.
GUIDE_CAMPAIGN: dict[str, Any] = {
    "name": "Reward Purchases Over $100",
    "triggers": [
        {
            "type": "purchase_completed",
            "conditions": [{"field": "amount", "operator": ">=", "value": 100}],
        }
    ],
    "effects": [
        {"type": "add_points", "config": {"amount": 500, "reason": "Purchase reward"}},
        {
            "type": "award_product",
            "config": {"productId": "prod_vip_badge", "reason": "VIP shopper badge"},
        },
    ],
}
CODE_EFFECT = {
    "type": "allocate_code",
    "config": {"poolId": "pool_discounts", "reason": "Discount code"},
}


async def ensure_demo(engine: AsyncEngine, credentials: Path, base_url: str) -> dict[str, Any]:
    """Reuse the credentials file while its org exists; otherwise create the demo org."""
    if credentials.exists():
        saved = json.loads(credentials.read_text())
        async with engine.connect() as conn:
            if await conn.scalar(select(Org.id).where(Org.id == saved.get("orgId"))):
                return dict(saved)
    async with engine.begin() as conn:
        org_id = await orgs.create_org(conn, "Demo")
        key_id, secret = await orgs.create_key(conn, org_id, "demo", list(orgs.ALL_SCOPES))
        await users.create(conn, org_id, "user_123", "user@example.com", None)
        trigger = TriggerDefinition.model_validate(GUIDE_TRIGGER)
        await conn.execute(
            insert(Trigger).values(
                org_id=org_id, key=trigger.key, definition=trigger.model_dump(mode="json")
            )
        )
        await catalog.create_item(
            conn, Product, org_id, {"id": "prod_vip_badge", "name": "VIP Badge", "type": "badge"}
        )
        await catalog.create_item(
            conn, CodePool, org_id, {"id": "pool_discounts", "name": "Discount codes"}
        )
        await catalog.import_codes(
            conn, org_id, "pool_discounts", [f"SAVE10-{i:04d}" for i in range(1, 101)]
        )
        await campaigns.create(
            conn,
            org_id,
            CampaignDefinition.model_validate(
                {**GUIDE_CAMPAIGN, "effects": [*GUIDE_CAMPAIGN["effects"], CODE_EFFECT]}
            ),
            "active",
        )
    saved = {"baseUrl": base_url, "orgId": org_id, "apiKey": key_id, "apiSecret": secret}
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text(json.dumps(saved, indent=2) + "\n")
    credentials.chmod(0o600)
    return saved


def curl_example(creds: dict[str, Any]) -> str:
    body = '{"userId": "user_123", "action": "purchase_completed", "data": {"amount": 150, "currency": "USD"}}'
    return (
        f"curl -X POST {creds['baseUrl']}/api/audience/internal/actions \\\n"
        f"  -H 'Authorization: Bearer {creds['apiSecret']}' \\\n"
        f"  -H 'X-Monterosa-Org-ID: {creds['orgId']}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'"
    )
