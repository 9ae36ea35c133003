"""The demo org `loyalty dev` creates once: an all-scopes key, user ``user_123`` and the
integration guide's setup (trigger, VIP badge, discount-code pool, "Reward Purchases Over $100")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncEngine

from src.api.schemas.campaigns import GUIDE_STEP_2
from src.api.schemas.triggers import GUIDE_STEP_1
from src.domain.campaigns import CampaignDefinition
from src.domain.triggers import TriggerDefinition
from src.services import campaigns, catalog, identity, keys, orgs
from src.workflows import search_attributes as sa

# The Complete Integration Flow's discount code, added to Step 2's campaign.
CODE_EFFECT: dict[str, Any] = {
    "type": "allocate_code",
    "config": {"poolId": "pool_discounts", "reason": "Discount code"},
}
DEMO_CODES = [f"SAVE10-{i:04d}" for i in range(1, 101)]


async def ensure_demo(engine: AsyncEngine, credentials: Path, base_url: str) -> dict[str, Any]:
    """Reuse the credentials file while its org exists; otherwise create the demo org."""
    if credentials.exists():
        saved = json.loads(credentials.read_text())
        if await orgs.exists(engine, str(saved.get("orgId"))):
            return dict(saved)
    org_id, _, _ = await orgs.create(engine, "Demo")
    issued = await keys.issue(engine, org_id, "demo", ["admin"])
    await identity.create(engine, org_id, "user_123", "user@example.com", None, [])
    await campaigns.create_trigger(engine, org_id, TriggerDefinition.model_validate(GUIDE_STEP_1))
    badge = {"id": "prod_vip_badge", "name": "VIP Badge", "type": "badge"}
    await catalog.create_product(engine, org_id, badge)
    await catalog.create_pool(engine, org_id, {"id": "pool_discounts", "name": "Discount codes"})
    await catalog.add_codes(engine, org_id, "pool_discounts", DEMO_CODES, len(DEMO_CODES))
    definition = {**GUIDE_STEP_2, "effects": [*GUIDE_STEP_2["effects"], CODE_EFFECT]}
    await campaigns.create(engine, org_id, CampaignDefinition.model_validate(definition), "active")
    saved = {"baseUrl": base_url, "orgId": org_id, "apiKey": issued.id, "apiSecret": issued.secret}
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text(json.dumps(saved, indent=2) + "\n")
    credentials.chmod(0o600)
    return saved


def curl_example(creds: dict[str, Any]) -> str:
    """The variables every example of the README and the documentation uses, set for the demo
    org, and the guide's action sent with them."""
    body = '{"userId": "user_123", "action": "purchase_completed", "data": {"amount": 150, "currency": "USD"}}'
    return (
        f"export BASE={creds['baseUrl']} SECRET={creds['apiSecret']} ORG={creds['orgId']}\n"
        'curl -s "$BASE/api/audience/internal/actions" \\\n'
        '  -H "Authorization: Bearer $SECRET" \\\n'
        '  -H "X-Monterosa-Org-ID: $ORG" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body}'"
    )


def outcome_lists(ui: str, namespace: str) -> dict[str, str]:
    """The Temporal UI's lists of failed and skipped actions, pre-filled (the UI keeps saved
    views in each browser, so these are printed rather than saved)."""
    return {
        outcome: f"{ui}/namespaces/{namespace}/workflows?query="
        + quote(f'{sa.OUTCOME.name}="{outcome}"')
        for outcome in ("failed", "skipped")
    }
