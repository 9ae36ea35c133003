"""Campaigns (guide "Step 2") and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from src.api.schemas.common import Body, Instant, Omittable, Schema
from src.domain.bounds import Moment
from src.domain.campaigns import (
    Campaign,
    CampaignDefinition,
    CampaignStatus,
    Effect,
    Name,
    Priority,
    StoredVersion,
    TriggerRule,
)
from src.domain.limits import Limits

GUIDE_STEP_2: dict[str, Any] = {
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


class CampaignCreate(CampaignDefinition, Body):
    """The definition, active on creation unless ``status`` is ``draft``."""

    model_config = ConfigDict(json_schema_extra={"examples": [GUIDE_STEP_2]})

    status: Literal["draft", "active"] = "active"


class CampaignPatch(Body):
    """Any definition field (replaced whole; a change makes version n+1) and/or a new status."""

    name: Name | Omittable = None
    description: str | None = Field(default=None, max_length=2000)
    priority: Priority | Omittable = None
    startAt: Moment | None = None
    endAt: Moment | None = None
    triggers: list[TriggerRule] | Omittable = Field(default=None, min_length=1, max_length=20)
    effects: list[Effect] | Omittable = Field(default=None, min_length=1, max_length=20)
    limits: Limits | None = None
    status: CampaignStatus | Omittable = None

    def definition_changes(self) -> dict[str, Any]:
        """The definition fields sent, as stored (``null`` clears an optional one)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"status"})


class _Definition(Schema):
    name: str
    description: str | None
    priority: int
    start_at: datetime | None
    end_at: datetime | None
    triggers: list[TriggerRule]
    effects: list[Effect]
    limits: Limits | None


class CampaignOut(_Definition):
    id: str
    status: CampaignStatus
    version: int
    created_at: Instant
    updated_at: Instant

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignOut:
        return cls(
            id=campaign.id,
            status=CampaignStatus(campaign.status),
            version=campaign.version,
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
            **dict(campaign.definition),
        )


class VersionOut(_Definition):
    version: int
    created_at: Instant

    @classmethod
    def of(cls, stored: StoredVersion) -> VersionOut:
        return cls(version=stored.version, created_at=stored.created_at, **dict(stored.definition))
