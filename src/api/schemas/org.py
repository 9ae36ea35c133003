"""Org settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from src.api.schemas.common import Body, Schema
from src.domain.settings import (
    MAX_REVERSAL_ACTIONS,
    ReversalRule,
    UserLookup,
    check_reversal_actions,
    check_zone,
)


class SettingsPatch(Body):
    """Keys to change; the others stay as they are."""

    userLookup: UserLookup | None = None
    unknownUsers: Literal["skip", "enroll"] | None = None
    phoneRegion: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timezone: str | None = Field(default=None, max_length=64)
    maxEventAge: timedelta | None = Field(
        default=None, ge=timedelta(0), le=timedelta(days=365), description="ISO 8601, e.g. P7D"
    )
    reversalActions: dict[str, ReversalRule] | None = Field(
        default=None,
        max_length=MAX_REVERSAL_ACTIONS,
        description="Refund action types and the actions they reverse (replaces the whole map).",
        examples=[
            {"purchase_refunded": {"reverses": "purchase_completed", "match": "data.orderId"}}
        ],
    )

    @field_validator("reversalActions")
    @classmethod
    def _reversal_actions(
        cls, value: dict[str, ReversalRule] | None
    ) -> dict[str, ReversalRule] | None:
        return None if value is None else check_reversal_actions(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)


class UserLookupOut(Schema):
    email: bool
    phone: bool


class OrgSettingsOut(Schema):
    """The settings an org manages (its rate limit is the operator's)."""

    user_lookup: UserLookupOut
    unknown_users: Literal["skip", "enroll"]
    phone_region: str | None
    timezone: str
    max_event_age: timedelta = Field(description="ISO 8601 duration, e.g. P7D")
    reversal_actions: dict[str, ReversalRule]
