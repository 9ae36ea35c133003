"""Campaign definitions (integration guide, "Step 2: Create Campaign with Trigger").

A definition is immutable once stored: an edit makes a new version, and every grant names the
version that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from src.domain.actions import ACTION_PATTERN
from src.domain.bounds import NOT_BOOLEAN, Moment
from src.domain.conditions import OPERATORS, Check, compile_condition, is_valid_path
from src.domain.errors import Conflict
from src.domain.limits import Limits
from src.domain.model import CamelModel

Name = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(max_length=500)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Priority = Annotated[int, Field(ge=-1000, le=1000), NOT_BOOLEAN]


class CampaignStatus(StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    archived = "archived"


# Explicit lifecycle: archived is final; a draft never pauses.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "archived"}),
    "active": frozenset({"paused", "archived"}),
    "paused": frozenset({"active", "archived"}),
    "archived": frozenset(),
}


def check_transition(current: str, target: str) -> None:
    if target != current and target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (archived is final)"
        raise Conflict(f"a {current} campaign cannot become {target}; it can become {allowed}")


class Condition(CamelModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    operator: Literal[OPERATORS]  # type: ignore[valid-type]
    value: Any = None

    @field_validator("field")
    @classmethod
    def _path(cls, value: str) -> str:
        if not is_valid_path(value):
            raise ValueError(
                "must be a dotted path such as 'amount', 'metadata.source' or 'items[].sku'"
            )
        return value

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        if self.operator in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator '{self.operator}' needs a list value")
        if self.operator not in ("exists", "not_exists") and self.value is None:
            raise ValueError(f"operator '{self.operator}' needs a value")
        return self


class TriggerRule(CamelModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=ACTION_PATTERN)
    conditions: list[Condition] = Field(default_factory=list, max_length=50)


class AddPointsConfig(CamelModel):
    """Fixed ``amount``, or ``multiplier`` x a numeric action field, rounded to a whole point."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal | None = Field(default=None, gt=0, max_digits=18, decimal_places=4)
    multiplier: Decimal | None = Field(default=None, gt=0, max_digits=18, decimal_places=6)
    field: str = "amount"
    rounding: Literal["floor", "ceil", "half_up"] = "floor"
    currency: str = Field(default="points", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    reason: Reason | None = None

    @model_validator(mode="after")
    def _one_of(self) -> AddPointsConfig:
        if (self.amount is None) == (self.multiplier is None):
            raise ValueError("give exactly one of 'amount' or 'multiplier'")
        if not is_valid_path(self.field):
            raise ValueError("'field' must be a dotted path such as 'amount'")
        return self


class AwardProductConfig(CamelModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Identifier
    reason: Reason | None = None


class AllocateCodeConfig(CamelModel):
    model_config = ConfigDict(extra="forbid")

    pool_id: Identifier
    reason: Reason | None = None


EFFECT_CONFIGS: dict[str, type[BaseModel]] = {
    "add_points": AddPointsConfig,
    "award_product": AwardProductConfig,
    "allocate_code": AllocateCodeConfig,
}


class Effect(CamelModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["add_points", "award_product", "allocate_code"]
    config: dict[str, Any]
    _parsed: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _config_fits_type(self) -> Effect:
        # Validated (and parsed once) here, stored as the operator wrote it.
        try:
            self._parsed = EFFECT_CONFIGS[self.type].model_validate(self.config)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or self.type
            raise ValueError(f"config.{where}: {first['msg']}") from None
        return self

    def parsed(self) -> Any:
        return self._parsed


class CampaignDefinition(CamelModel):
    """The versioned part of a campaign: what fires, when and what it grants."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str | None = Field(default=None, max_length=2000)
    priority: Priority = 0
    start_at: Moment | None = None
    end_at: Moment | None = None
    triggers: list[TriggerRule] = Field(min_length=1, max_length=20)
    effects: list[Effect] = Field(min_length=1, max_length=20)
    limits: Limits | None = None

    @model_validator(mode="after")
    def _window(self) -> CampaignDefinition:
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("'endAt' must be after 'startAt'")
        return self

    def in_force_at(self, moment: datetime) -> bool:
        """Judged by the action's own timestamp, not by when it is processed."""
        if self.start_at is not None and moment < self.start_at:
            return False
        return self.end_at is None or moment < self.end_at


@dataclass(frozen=True)
class Campaign:
    """A campaign as it stands: its lifecycle state and its current version's definition."""

    id: str
    status: str
    version: int
    definition: CampaignDefinition
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredVersion:
    version: int
    definition: CampaignDefinition
    created_at: datetime


EffectConfig = AddPointsConfig | AwardProductConfig | AllocateCodeConfig


@dataclass(frozen=True, slots=True)
class PreparedEffect:
    """One effect with everything about its grant that does not depend on the action."""

    index: int
    config: EffectConfig
    template: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A version made ready for matching: conditions compiled, effects templated. Built once per
    version (versions never change, and the store keeps them), so an action pays only for
    evaluating what listens to it."""

    order: tuple[int, str]
    triggers: tuple[tuple[str, tuple[Check, ...]], ...]
    effects: tuple[PreparedEffect, ...]

    def matches(self, action: str, context: Any) -> bool:
        """Triggers are OR-ed; the conditions inside one trigger are AND-ed."""
        return any(
            kind == action and all(check(context) for check in checks)
            for kind, checks in self.triggers
        )


class CampaignVersion(BaseModel):
    """One immutable version of a campaign as the planner sees it (frozen: ``prepared`` is
    derived from it once)."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    version: PositiveInt
    definition: CampaignDefinition

    @cached_property
    def prepared(self) -> Prepared:
        definition = self.definition
        effects = []
        for index, effect in enumerate(definition.effects):
            config = effect.parsed()
            template: dict[str, Any] = {
                "campaign_id": self.campaign_id,
                "campaign_version": self.version,
                "effect_index": index,
                "type": effect.type,
                "reason": config.reason or definition.name,
            }
            if isinstance(config, AddPointsConfig):
                template |= {"amount": config.amount, "currency": config.currency}
            elif isinstance(config, AwardProductConfig):
                template["product_id"] = config.product_id
            else:
                template["pool_id"] = config.pool_id
            effects.append(PreparedEffect(index, config, template))
        return Prepared(
            order=(-definition.priority, self.campaign_id),
            triggers=tuple(
                (
                    rule.type,
                    tuple(compile_condition(c.field, c.operator, c.value) for c in rule.conditions),
                )
                for rule in definition.triggers
            ),
            effects=tuple(effects),
        )
