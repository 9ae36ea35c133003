"""Simulations: an action body plus the campaigns to try, and why each would or would not fire."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from src.api.schemas.actions import GUIDE_ACTION
from src.api.schemas.common import Amount, Schema
from src.domain.actions import ActionRequest
from src.services.simulate import Simulation


class SimulateBody(ActionRequest):
    """The ingestion endpoint's action body, plus ``campaignIds`` to try (drafts too;
    default: the active campaigns on the action)."""

    model_config = ConfigDict(
        title="Simulation request", json_schema_extra={"examples": [GUIDE_ACTION]}
    )

    campaignIds: list[str] | None = Field(default=None, max_length=100)


class ConditionOut(Schema):
    field: str
    operator: str
    value: Any
    resolved: list[Any] | None = Field(description="null for a user fact without users:read")
    passed: bool


class TriggerCheckOut(Schema):
    type: str
    matches_action: bool
    conditions: list[ConditionOut]
    passed: bool


class LimitOut(Schema):
    limit: str
    scope: str
    count: int
    max_count: int | None
    points: Amount
    points_budget: Amount | None
    would_block: bool


class SimulatedEffect(Schema):
    campaign_id: str
    campaign_version: int
    effect_index: int
    type: str
    amount: Amount | None = None
    currency: str | None = None
    product_id: str | None = None
    pool_id: str | None = None
    reason: str


class CampaignSimulation(Schema):
    campaign_id: str
    version: int
    name: str
    in_force: bool
    triggers: list[TriggerCheckOut]
    matched: bool
    limits: list[LimitOut]
    would_fire: bool
    effects: list[SimulatedEffect]


class SimulatedUser(Schema):
    user_id: str
    resolved_user_id: str | None = Field(description="null without users:read")
    unknown_users: str


class SimulationOut(Schema):
    user: SimulatedUser
    campaigns: list[CampaignSimulation]
    would_fire: list[str]

    @classmethod
    def of(cls, found: Simulation) -> SimulationOut:
        return cls(
            user=SimulatedUser.model_validate(found, from_attributes=True),
            campaigns=[
                CampaignSimulation.model_validate(
                    {**vars(c), **dict(c.explanation)}, from_attributes=True
                )
                for c in found.campaigns
            ],
            would_fire=found.would_fire,
        )
