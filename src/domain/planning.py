"""Matching an action against campaign versions and planning the effects to grant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, TypeAdapter

from src.domain import errors
from src.domain.actions import ActionInput
from src.domain.campaigns import AddPointsConfig, CampaignDefinition, CampaignVersion
from src.domain.conditions import as_decimal, evaluate, resolve
from src.domain.effects import ActionPlan, LimitedCampaign, PlannedEffect, effect_key
from src.domain.identity import enrollable
from src.domain.settings import OrgSettings

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


def skip_reason(user: Mapping[str, Any] | None, ref: str, settings: OrgSettings) -> str | None:
    """Why an action is not judged for anyone: its user is unknown (and, where the org enrols
    unknown users, ``unenrollable_id``: its ID is an email or a phone number)."""
    if user is not None:
        return None
    if settings.unknown_users == "enroll" and not enrollable(ref, settings):
        return errors.UNENROLLABLE_ID
    return errors.UNKNOWN_USER


def judge(
    action: ActionInput,
    user: Mapping[str, Any] | None,
    versions: Sequence[CampaignVersion],
    settings: OrgSettings,
) -> ActionPlan:
    """The plan before limits: skipped for an unknown user, else every matching effect."""
    moment = action.judged_at(settings.max_event_age)
    reason = skip_reason(user, action.user_id, settings)
    if user is None or reason is not None:
        return ActionPlan(status="skipped", user_id=None, reason=reason, judged_at=moment)
    facts = {"data": action.data, "metadata": action.metadata, "user": user}
    matched, effects = plan(action.event_id, action.action, moment, facts, versions)
    return outcome(str(user["id"]), matched, effects, [], moment)


def outcome(
    user_id: str,
    matched: list[str],
    effects: list[PlannedEffect],
    limited: list[LimitedCampaign],
    judged_at: datetime | None,
) -> ActionPlan:
    """The plan of the effects kept: done already when there are none (every matched campaign
    refused by its limits is ``limit_reached``)."""
    return ActionPlan(
        status="processing" if effects else "processed",
        user_id=user_id,
        reason=errors.LIMIT_REACHED if limited and not effects else None,
        campaign_ids=matched,
        effects=effects,
        limited=limited,
        judged_at=judged_at,
    )


def limited(versions: Sequence[CampaignVersion], matched: list[str]) -> bool:
    """Whether any matched campaign has limits (and so needs reservations)."""
    capped = {v.campaign_id for v in versions if v.definition.limits is not None}
    return not capped.isdisjoint(matched)


class ConditionCheck(BaseModel):
    field: str
    operator: str
    value: Any
    resolved: list[Any]
    passed: bool


class TriggerCheck(BaseModel):
    type: str
    matches_action: bool
    conditions: list[ConditionCheck]
    passed: bool


class Explanation(BaseModel):
    in_force: bool
    triggers: list[TriggerCheck]
    matched: bool


def explain(
    definition: CampaignDefinition, action: str, moment: datetime, context: Mapping[str, Any]
) -> Explanation:
    """Why a campaign would or would not fire: each condition with its resolved values."""
    rules = []
    for rule in definition.triggers:
        conditions = [
            ConditionCheck(
                field=c.field,
                operator=c.operator,
                value=c.value,
                resolved=resolve(c.field, context),
                passed=evaluate(c.field, c.operator, c.value, context),
            )
            for c in rule.conditions
        ]
        rules.append(
            TriggerCheck(
                type=rule.type,
                matches_action=rule.type == action,
                conditions=conditions,
                passed=rule.type == action and all(c.passed for c in conditions),
            )
        )
    in_force = definition.in_force_at(moment)
    return Explanation(
        in_force=in_force, triggers=rules, matched=in_force and any(r.passed for r in rules)
    )
