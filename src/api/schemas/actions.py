"""Actions (the guide's "Send User Actions"), their events, batches and replays."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.api.schemas.common import Amount, ErrorDetail, FieldError, Instant, Schema
from src.api.schemas.ids import TransactionId
from src.domain.actions import MAX_BATCH, ActionRequest
from src.domain.events import EventView
from src.domain.reversals import ReversalStatus, ReversalView

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
    transaction_id: TransactionId | None


class ReverseBody(BaseModel):
    """Take back what the event granted: in full (no body, or no ``amount``), or the points
    of a partial refund of ``amount`` out of the action's ``data.amount``."""

    model_config = ConfigDict(
        extra="forbid",
        title="Reversal",
        json_schema_extra={"examples": [{}, {"amount": 40, "reason": "one item returned"}]},
    )
    amount: Decimal | None = Field(default=None, gt=0, le=10**15, decimal_places=4)
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class TakenBackOut(Schema):
    """What a reversal took: ``productIds`` (one per unit) and ``revokedCodes`` name them
    (both need ``users:read``, as a user's holdings do; empty for reversals made before
    0.6.0)."""

    entries: int
    points: dict[str, Amount]
    products: int
    codes: int
    full: bool
    product_ids: list[str] | None = []
    revoked_codes: list[str] | None = []


class ReversalOut(Schema):
    """A reversal: ``queued`` until its ReverseAction run applies it (``completed``, with what
    it took back) or gives up (``failed``: nothing taken; send a new request)."""

    id: str = Field(examples=["rev_3f1c9a0b6d2e4f5a7b8c9d0e"])
    event_id: str
    workflow_id: str
    status: Literal["queued", "completed", "failed"]
    amount: Amount | None
    reason: str | None
    taken_back: TakenBackOut | None
    created_at: Instant
    completed_at: Instant | None

    @classmethod
    def of(cls, view: ReversalView) -> ReversalOut:
        taken = (
            TakenBackOut.model_validate(view.result)
            if view.status == ReversalStatus.completed
            else None
        )
        fields = {**vars(view), "workflow_id": view.workflow_id, "taken_back": taken}
        return cls.model_validate(fields)


class EventOut(Schema):
    """An event and its outcome; the action's own fields need ``actions:read`` and the
    resolved user ``users:read`` (else ``null``)."""

    event_id: str
    workflow_id: str
    status: Literal["queued", "processing", "waiting", "processed", "skipped", "failed"]
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
    reversals: list[ReversalOut]
    created_at: Instant
    updated_at: Instant

    @classmethod
    def of(cls, view: EventView) -> EventOut:
        fields = {
            **vars(view),
            "workflow_id": view.workflow_id,
            "created_at": view.accepted_at,
            "reversals": [ReversalOut.of(r) for r in view.reversals],
        }
        return cls.model_validate(fields, from_attributes=True)


class ReplayOut(Schema):
    event_id: str
    workflow_id: str
    run_id: str
    status: Literal["queued"] = "queued"
