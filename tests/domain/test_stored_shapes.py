"""What 0.5.0 stored with camelCase keys (org settings, campaign versions) loads into the
snake_case domain and is written back byte for byte; wire names are the only input names."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from src.domain.actions import ActionRequest
from src.domain.campaigns import AllocateCodeConfig, AwardProductConfig, CampaignDefinition
from src.domain.settings import OrgSettings

# As 0.5.0 wrote them: OrgSettings.model_dump(mode="json") and a campaign_versions.definition.
SETTINGS_0_5_0 = {
    "userLookup": {"email": True, "phone": False},
    "unknownUsers": "enroll",
    "phoneRegion": "GB",
    "timezone": "Europe/London",
    "maxEventAge": "P3D",
    "rateLimit": {"perSecond": 50, "burst": 100},
    "reversalActions": {
        "purchase_refunded": {
            "reverses": "purchase_completed",
            "match": "data.orderId",
            "amount": "data.amount",
        }
    },
}
DEFINITION_0_5_0 = {
    "name": "Reward Purchases Over $100",
    "description": None,
    "priority": 0,
    "startAt": "2025-10-01T00:00:00Z",
    "endAt": "2026-10-01T00:00:00Z",
    "triggers": [
        {
            "type": "purchase_completed",
            "conditions": [{"field": "amount", "operator": ">=", "value": 100}],
        }
    ],
    "effects": [
        {"type": "add_points", "config": {"amount": 500, "reason": "Purchase reward"}},
        {"type": "award_product", "config": {"productId": "prod_vip_badge"}},
        {"type": "allocate_code", "config": {"poolId": "pool_discounts"}},
    ],
    "limits": {
        "maxPerUser": 2,
        "perUserPerPeriod": {"count": 1, "period": "week"},
        "maxTotal": 1000,
        "pointsBudget": "50000",
    },
}


def test_org_settings_of_0_5_0_load_and_are_written_back_as_they_were() -> None:
    settings = OrgSettings.model_validate(SETTINGS_0_5_0)
    assert settings.unknown_users == "enroll" and settings.phone_region == "GB"
    assert settings.max_event_age == timedelta(days=3)
    assert settings.rate_limit is not None and settings.rate_limit.per_second == 50
    assert settings.user_lookup.email and "purchase_refunded" in settings.reversal_actions
    assert settings.model_dump(mode="json") == SETTINGS_0_5_0


def test_a_campaign_version_of_0_5_0_loads_and_is_written_back_as_it_was() -> None:
    definition = CampaignDefinition.model_validate(DEFINITION_0_5_0)
    assert definition.start_at is not None and definition.end_at is not None
    assert definition.limits is not None
    assert (definition.limits.max_per_user, definition.limits.max_total) == (2, 1000)
    assert definition.limits.points_budget == Decimal(50000)
    award, allocate = (e.parsed() for e in definition.effects[1:])
    assert isinstance(award, AwardProductConfig) and award.product_id == "prod_vip_badge"
    assert isinstance(allocate, AllocateCodeConfig) and allocate.pool_id == "pool_discounts"
    assert json.loads(definition.model_dump_json()) == DEFINITION_0_5_0


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (ActionRequest, {"user_id": "u1", "action": "purchase_completed"}),
        (OrgSettings, {"unknown_users": "enroll"}),  # extra keys are ignored, not read
        (CampaignDefinition, DEFINITION_0_5_0 | {"limits": {"max_per_user": 2}}),
        (
            CampaignDefinition,
            DEFINITION_0_5_0
            | {"effects": [{"type": "award_product", "config": {"product_id": "p"}}]},
        ),
    ],
)
def test_python_names_are_not_wire_names(model: type, body: dict[str, object]) -> None:
    """A body (or a stored row) is read by its camelCase names only: ``user_id`` is not a
    second spelling of ``userId``."""
    try:
        parsed = model.model_validate(body)
    except ValidationError:
        return
    assert isinstance(parsed, OrgSettings) and parsed.unknown_users == "skip"


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        (
            {
                "userId": "user_123",
                "action": "purchase_completed",
                "data": {"amount": 150, "currency": "USD"},
                "idempotencyKey": "order-12345",
            },
            "042862e02890c261ca8c451708983da6928c4536e04954d8df9535ab24ee2259",
        ),
        (
            {
                "userId": 42,
                "action": "review_posted",
                "timestamp": "2025-10-06T16:45:00Z",
                "metadata": {"source": "shopify"},
            },
            "8f0ad938e5194a5b6d3392a05964913b17314336bb3262a54f79b2143a63cc43",
        ),
    ],
)
def test_a_body_has_the_fingerprint_0_5_0_stored_for_it(
    body: dict[str, object], stored: str
) -> None:
    """A retry of an action accepted before an upgrade is still the same action, not a 409."""
    assert ActionRequest.model_validate(body).fingerprint() == stored
    assert ActionRequest.model_validate(body | {"idempotencyKey": "other"}).fingerprint() == (
        ActionRequest.model_validate(body).fingerprint()
    )
