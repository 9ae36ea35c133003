"""Matching an action against campaign versions and planning the effects to grant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import TypeAdapter

from src.domain.campaigns import AddPointsConfig, CampaignDefinition, CampaignVersion
from src.domain.conditions import as_decimal, evaluate, resolve
from src.domain.effects import PlannedEffect, effect_key

_EFFECTS = TypeAdapter(list[PlannedEffect])
MAX_POINTS = Decimal(10) ** 12  # one grant; the ledger holds 16 integer digits
_ROUNDING = {"floor": ROUND_FLOOR, "ceil": ROUND_CEILING, "half_up": ROUND_HALF_UP}


def points_for(config: AddPointsConfig, context: Mapping[str, Any]) -> Decimal | None:
    """Whole points a proportional grant gives, or None when its field is missing or not
    numeric (a fixed amount is in the effect's template already)."""
    values = [as_decimal(v) for v in resolve(config.field, context)]
    if len(values) != 1 or values[0] is None or config.multiplier is None:
        return None
    product = config.multiplier * values[0]
    if not 0 < product <= MAX_POINTS:  # absurd inputs plan nothing rather than fail forever
        return None
    points = product.quantize(Decimal(1), rounding=_ROUNDING[config.rounding])
    return points if points > 0 else None


def plan(
    event_id: str,
    action: str,
    moment: datetime,
    context: Mapping[str, Any],
    campaigns: Sequence[CampaignVersion],
) -> tuple[list[str], list[PlannedEffect]]:
    """Matched campaign IDs and their effects, highest priority first (ties by campaign ID).

    Effects are validated in one pass (pydantic-core), not one model at a time.
    """
    matched = sorted(
        (
            c
            for c in campaigns
            if c.definition.in_force_at(moment) and c.prepared.matches(action, context)
        ),
        key=lambda c: c.prepared.order,
    )
    effects: list[dict[str, Any]] = []
    for campaign in matched:
        for effect in campaign.prepared.effects:
            key = effect_key(event_id, campaign.campaign_id, campaign.version, effect.index)
            config = effect.config
            if isinstance(config, AddPointsConfig) and config.amount is None:
                amount = points_for(config, context)
                if amount is not None:
                    effects.append({**effect.template, "key": key, "amount": amount})
            else:
                effects.append({**effect.template, "key": key})
    return [c.campaign_id for c in matched], _EFFECTS.validate_python(effects)


def explain(
    definition: CampaignDefinition, action: str, moment: datetime, context: Mapping[str, Any]
) -> dict[str, Any]:
    """Why a campaign would or would not fire: each condition with its resolved values."""
    rules = []
    for rule in definition.triggers:
        conditions = [
            {
                "field": c.field,
                "operator": c.operator,
                "value": c.value,
                "resolved": resolve(c.field, context),
                "passed": evaluate(c.field, c.operator, c.value, context),
            }
            for c in rule.conditions
        ]
        rules.append(
            {
                "type": rule.type,
                "matchesAction": rule.type == action,
                "conditions": conditions,
                "passed": rule.type == action and all(c["passed"] for c in conditions),
            }
        )
    return {
        "inForce": definition.in_force_at(moment),
        "triggers": rules,
        "matched": definition.in_force_at(moment) and any(r["passed"] for r in rules),
    }
