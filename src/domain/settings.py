"""An org's settings, typed, with every default in one place.

Stored as a JSON object; ``PATCH /v1/org/settings`` merges top-level keys into it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import ConfigDict, Field, ValidationError, field_validator

from src.domain.model import CamelModel

# Files of a zoneinfo directory that are not zones: the host's own time, and tzdata's
# placeholders. ``localtime`` would judge an org's campaigns by each server's clock setting.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


def check_zone(value: str) -> str:
    """An IANA time zone name (one every store knows: not ``localtime`` or a file path), or a
    ValueError saying so."""
    if value not in _zones():
        raise ValueError(f"unknown time zone '{value}' (use an IANA name such as Europe/London)")
    return value


def check_reversal_actions(rules: dict[str, ReversalRule]) -> dict[str, ReversalRule]:
    """Refund action types are action names, and none reverses a refund type (its own or
    another: two refunds naming each other would each wait for the other to settle)."""
    for name, rule in rules.items():
        if not re.fullmatch(ACTION_NAME, name):
            raise ValueError(f"'{name[:64]}' is not an action type")
        if rule.reverses in rules:  # itself, or another refund type: refunds could wait on
            raise ValueError(f"'{name}' cannot reverse '{rule.reverses}', a refund type too")
    return rules


class UserLookup(CamelModel):
    model_config = ConfigDict(extra="forbid")

    email: bool = False
    phone: bool = False


class RateLimit(CamelModel):
    per_second: int
    burst: int


ACTION_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_REVERSAL_ACTIONS = 20


class ReversalRule(CamelModel):
    """An action type that reverses an earlier action (a refund of a purchase): which type it
    reverses, the field naming the original, and whether its ``data.amount`` refunds in part
    (absent: it reverses in full)."""

    model_config = ConfigDict(extra="forbid")

    reverses: str = Field(pattern=ACTION_NAME)
    match: Literal["data.originalEventId", "data.orderId", "metadata.orderId"]
    amount: Literal["data.amount"] | None = None


class OrgSettings(CamelModel):
    """What an org configures (``rateLimit`` is an operator's, set with the CLI)."""

    model_config = ConfigDict(extra="ignore")

    user_lookup: UserLookup = Field(default_factory=UserLookup)
    unknown_users: Literal["skip", "enroll"] = "skip"
    phone_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timezone: str = Field(default="UTC", max_length=64)
    # How old an action's own timestamp may be and still say when it happened (campaign
    # windows); older, it is judged by the time it was accepted.
    max_event_age: timedelta = Field(
        default=timedelta(days=7), ge=timedelta(0), le=timedelta(days=365)
    )
    rate_limit: RateLimit | None = None
    reversal_actions: dict[str, ReversalRule] = Field(
        default_factory=dict, max_length=MAX_REVERSAL_ACTIONS
    )

    @field_validator("reversal_actions")
    @classmethod
    def _reversal_names(cls, value: dict[str, ReversalRule]) -> dict[str, ReversalRule]:
        return check_reversal_actions(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> OrgSettings:
        """The stored settings, each unreadable key at its default (stored values were valid
        when written, but a rule may have tightened since)."""
        stored = stored or {}
        try:
            return cls.model_validate(stored)
        except ValidationError as exc:
            broken = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            return cls.model_validate({k: v for k, v in stored.items() if k not in broken})
