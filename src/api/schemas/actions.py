"""Actions (the guide's "Send User Actions"), their events, batches and replays."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.api.schemas.common import ErrorDetail, FieldError, Instant, Schema
from src.domain.actions import MAX_BATCH, ActionRequest
from src.domain.events import EventView

# The guide's "Request Body" and "Response", verbatim.
GUIDE_ACTION: dict[str, Any] = {
    "userId": "user_123",
    "action": "purchase_completed",
    "timestamp": "2025-10-06T16:45:00Z",
    "data": {
        "orderId": "ORD-12345",
        "amount": 99.99,
        "currency": "USD",
        "items": [{"sku": "PRODUCT-001", "quantity": 2, "price": 49.99}],
    },
    "metadata": {"source": "shopify", "storeId": "store_456"},
}
QUEUED_MESSAGE = "Action queued for processing"
GUIDE_REPLY: dict[str, Any] = {
    "eventId": "evt_7f9e2c8a-1234-5678-90ab-cdef12345678",
    "processed": False,
    "message": QUEUED_MESSAGE,
}


SEND_ACTION_ERRORS = {
    409: {
        "idempotencyConflict": ErrorDetail(
            code="idempotency_conflict",
            message="Idempotency-Key 'order-12345' was already used with a different body "
            "(event evt_7f9e2c8a-1234-5678-90ab-cdef12345678); use a new key for a new action",
            details={"eventId": "evt_7f9e2c8a-1234-5678-90ab-cdef12345678"},
        )
    },
    422: {
        "dataContradictsTrigger": ErrorDetail(
            code="validation_failed",
            message="data.amount: must be a number (trigger 'purchase_completed' declares it)",
            details=[
                FieldError(
                    field="data.amount",
                    message="must be a number (trigger 'purchase_completed' declares it)",
                )
            ],
        ),
        "timestampAhead": ErrorDetail(
            code="validation_failed",
            message="timestamp: more than 5 minutes ahead of the server's clock",
            details=[
                FieldError(
                    field="timestamp", message="more than 5 minutes ahead of the server's clock"
                )
            ],
        ),
    },
}


class ActionBody(ActionRequest):
    """A user action. ``userId`` is the platform user ID, an external ID mapped under
    ``metadata.source``, or (where the org enabled it) an email or phone; a JSON number is
    read as its decimal string. ``timestamp`` defaults to when it is accepted."""

    model_config = ConfigDict(title="Action", json_schema_extra={"examples": [GUIDE_ACTION]})


class BatchBody(BaseModel):
    """Up to 100 actions; each is admitted or refused on its own."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"actions": [GUIDE_ACTION]}]}
    )

    actions: list[ActionBody] = Field(min_length=1, max_length=MAX_BATCH)


class Accepted(Schema):
    """Queued: the event's workflow runs (and its effects are granted) asynchronously."""

    model_config = ConfigDict(json_schema_extra={"examples": [GUIDE_REPLY]})

    event_id: str
    processed: Literal[False] = False
    message: str = QUEUED_MESSAGE


class BatchItem(Schema):
    """One action's result, at its index: ``202`` with its event, or its own error."""

    index: int
    status: int
    event_id: str | None = None
    processed: bool | None = None
    message: str | None = None
    error: ErrorDetail | None = None


class BatchOut(Schema):
    accepted: int
    rejected: int
    results: list[BatchItem]


class LimitedOut(Schema):
    campaign_id: str
    reason: str = Field(examples=["limit_reached:maxPerUser"])


class EffectOut(Schema):
    key: str
    campaign_id: str
    campaign_version: int
    effect_index: int
    type: str
    status: Literal["granted", "failed", "pending"]
    reason: str | None
    transaction_id: str | None


class EventOut(Schema):
    """An event and its outcome; the action's own fields need ``actions:read`` and the
    resolved user ``users:read`` (else ``null``)."""

    event_id: str
    workflow_id: str
    status: Literal["queued", "processing", "processed", "skipped", "failed"]
    reason: str | None
    user_id: str | None
    resolved_user_id: str | None
    action: str
    timestamp: Instant
    accepted_at: Instant
    judged_at: Instant | None
    data: dict[str, Any] | None
    metadata: dict[str, Any] | None
    matched_campaigns: list[str]
    limited_campaigns: list[LimitedOut]
    effects: list[EffectOut]
    created_at: Instant
    updated_at: Instant

    @classmethod
    def of(cls, view: EventView) -> EventOut:
        fields = {**vars(view), "workflow_id": view.workflow_id, "created_at": view.accepted_at}
        return cls.model_validate(fields, from_attributes=True)


class ReplayOut(Schema):
    event_id: str
    workflow_id: str
    run_id: str
    status: Literal["queued"] = "queued"
