"""Effect planning: matching, windows judged by the action's time, priority order, keys."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from src.domain.campaigns import CampaignDefinition, CampaignVersion
from src.domain.planning import plan

NOW = datetime(2025, 10, 6, 16, 45, tzinfo=UTC)


def campaign(cid: str, version: int = 1, **overrides: Any) -> CampaignVersion:
    body: dict[str, Any] = {
        "name": cid,
        "triggers": [
            {
                "type": "purchase_completed",
                "conditions": [{"field": "amount", "operator": ">=", "value": 100}],
            }
        ],
        "effects": [{"type": "add_points", "config": {"amount": 500}}],
    } | overrides
    return CampaignVersion(
        campaign_id=cid, version=version, definition=CampaignDefinition.model_validate(body)
    )


def context(amount: Any) -> dict[str, Any]:
    return {"data": {"amount": amount}, "metadata": {}, "user": {"id": "u"}}


def test_match_and_keys() -> None:
    matched, effects = plan("evt_1", "purchase_completed", NOW, context(150), [campaign("c1", 3)])
    assert matched == ["c1"]
    assert [e.key for e in effects] == ["evt_1:c1:3:0"]
    assert effects[0].amount == Decimal(500) and effects[0].currency == "points"


def test_other_action_or_condition_fails() -> None:
    assert plan("e", "cart_abandoned", NOW, context(150), [campaign("c1")]) == ([], [])
    assert plan("e", "purchase_completed", NOW, context(99), [campaign("c1")]) == ([], [])


def test_window_is_judged_by_action_time() -> None:
    windowed = campaign("c1", startAt="2025-10-01T00:00:00Z", endAt="2025-10-06T16:45:00Z")
    assert plan("e", "purchase_completed", NOW, context(150), [windowed])[0] == []
    earlier = datetime(2025, 10, 6, 16, 44, tzinfo=UTC)
    assert plan("e", "purchase_completed", earlier, context(150), [windowed])[0] == ["c1"]


def test_priority_orders_effects() -> None:
    low, high = campaign("a", priority=1), campaign("b", priority=9)
    matched, effects = plan("e", "purchase_completed", NOW, context(150), [low, high])
    assert matched == ["b", "a"] and [e.campaign_id for e in effects] == ["b", "a"]


def test_triggers_or_conditions_and() -> None:
    c = campaign(
        "c",
        triggers=[
            {
                "type": "purchase_completed",
                "conditions": [
                    {"field": "amount", "operator": ">=", "value": 100},
                    {"field": "metadata.source", "operator": "==", "value": "shopify"},
                ],
            },
            {"type": "ticket_scanned"},
        ],
    )
    assert plan("e", "purchase_completed", NOW, context(150), [c])[0] == []
    assert plan("e", "ticket_scanned", NOW, context(None), [c])[0] == ["c"]


@pytest.mark.parametrize(
    ("rounding", "expected"), [("floor", 164), ("ceil", 165), ("half_up", 165)]
)
def test_multiplier_rounding(rounding: str, expected: int) -> None:
    c = campaign(
        "c", effects=[{"type": "add_points", "config": {"multiplier": 1.5, "rounding": rounding}}]
    )
    _, effects = plan("e", "purchase_completed", NOW, context(109.9), [c])  # 164.85, exactly
    assert effects[0].amount == Decimal(expected)


def test_multiplier_without_numeric_field_plans_nothing() -> None:
    c = campaign(
        "c",
        triggers=[{"type": "purchase_completed"}],
        effects=[{"type": "add_points", "config": {"multiplier": 2}}],
    )
    assert plan("e", "purchase_completed", NOW, context("abc"), [c])[1] == []


@pytest.mark.parametrize(
    "config", [{}, {"amount": 1, "multiplier": 2}, {"amount": -5}, {"amount": 1, "colour": "x"}]
)
def test_bad_point_configs_are_rejected(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        campaign("c", effects=[{"type": "add_points", "config": config}])
