"""User actions as integrators send them, and as the workflow receives them."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from src.domain.bounds import Moment, storable, violation
from src.domain.model import CamelModel

ACTION_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_BODY_BYTES = 64 * 1024
MAX_BATCH = 100
# How far ahead of the server's clock an action's timestamp may be (clock skew).
MAX_FUTURE = timedelta(minutes=5)


class EventStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    # A refund action (``reversalActions``) whose purchase is accepted but not settled yet: its
    # run waits on a durable timer, outside the relay's in-flight window.
    waiting = "waiting"
    processed = "processed"
    skipped = "skipped"
    failed = "failed"


# Accepted and not settled: its run may still be going (or may have been lost).
UNSETTLED = (EventStatus.queued, EventStatus.processing, EventStatus.waiting)


# A user reference; a JSON number (Shopify-style customer IDs) is read as its decimal string.
USER_ID_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": 255}, {"type": "integer"}],
    "description": "The platform user ID, an external ID (under `metadata.source`), or an "
    "email or phone where the org looks users up by them.",
}


class ActionRequest(CamelModel):
    """Body of ``POST /api/audience/internal/actions`` (integration guide, "Request Body")."""

    model_config = ConfigDict(extra="forbid")

    user_id: Annotated[str, WithJsonSchema(USER_ID_SCHEMA)] = Field(min_length=1, max_length=255)
    action: str = Field(pattern=ACTION_PATTERN)
    timestamp: Moment | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("data", "metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Nested or sized beyond what every later step (the workflow's data converter among
        # them) handles, an action would be accepted and then never processed.
        found = violation(value, root=str(info.field_name))
        if found is not None:
            raise PydanticCustomError(
                "json_bounds",
                "{message} (at {field})",
                {"message": found["message"], "field": found["field"]},
            )
        return value

    @field_validator("user_id", "idempotency_key")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return None if value is None else storable(value)

    @field_validator("user_id", mode="before")
    @classmethod
    def _numeric_user_id(cls, value: Any) -> Any:
        # Shopify-style integrations send the customer ID as a JSON number.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    def fingerprint(self) -> str:
        """Hash of what the caller sent (not defaults), to tell a retry from a different body."""
        body = self.model_dump(mode="json", exclude={"idempotency_key"}, exclude_unset=True)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def too_far_ahead(timestamp: datetime | None, now: datetime) -> bool:
    return timestamp is not None and timestamp > now + MAX_FUTURE


class ActionInput(BaseModel):
    """What a ProcessAction workflow run needs; everything else is loaded by its activities."""

    event_id: str
    org_id: str
    user_id: str
    action: str
    timestamp: datetime
    data: dict[str, Any]
    metadata: dict[str, Any]
    accepted_at: datetime | None = None  # None in runs started before release 0.2.0
    # The ProcessAction shape this run was started for. In the input, which history keeps,
    # choosing it costs a run nothing; a patch marker would cost an event and a search
    # attribute update (TemporalChangeVersion) per run. None before release 0.3.0.
    workflow_shape: Literal["local-then-regular"] | None = None
    # Set by the run on a refund's last plan after waiting its bound for the purchase it
    # reverses: planned without waiting again (skipped if the purchase has still not settled).
    waited_out: bool = False

    @property
    def accepted(self) -> datetime:
        """When the engine accepted it: per-period limits count by this."""
        return self.accepted_at or self.timestamp

    def judged_at(self, max_age: timedelta) -> datetime:
        return judged_at(self.timestamp, self.accepted, max_age)


def judged_at(occurred: datetime, accepted: datetime, max_age: timedelta) -> datetime:
    """The time campaign windows are judged by: when the action happened, as its sender says,
    unless that is more than ``max_age`` before it was accepted (a late backlog, a wrong clock,
    a made-up date); then when it was accepted."""
    return occurred if occurred >= accepted - max_age else accepted
