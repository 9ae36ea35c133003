"""An accepted event as its reader sees it: the action, its outcome and each planned effect's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from src.domain.effects import LimitedCampaign
from src.domain.reversals import ReversalView


@dataclass(frozen=True)
class Settled:
    """An event reaching its final status in the statement that reported it (counted once)."""

    status: str
    reason: str | None


@dataclass(frozen=True)
class EffectView:
    key: str
    campaign_id: str
    campaign_version: int
    effect_index: int
    type: str
    status: str  # granted, failed, or pending (not applied yet)
    reason: str | None
    transaction_id: int | None


@dataclass(frozen=True)
class EventView:
    event_id: str
    status: str
    reason: str | None
    user_id: str
    resolved_user_id: str | None
    action: str
    timestamp: datetime
    accepted_at: datetime
    judged_at: datetime | None
    data: dict[str, Any]
    metadata: dict[str, Any]
    matched_campaigns: list[str]
    limited_campaigns: list[LimitedCampaign]
    effects: list[EffectView]
    updated_at: datetime
    reversals: list[ReversalView] = field(default_factory=list)

    @property
    def workflow_id(self) -> str:
        """Each event is one workflow, of the same ID."""
        return self.event_id
