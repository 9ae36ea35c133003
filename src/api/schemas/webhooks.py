"""Webhooks: subscriptions, their deliveries, and the notification bodies they send."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from src.api.schemas.common import Body, Instant, Schema
from src.domain.webhooks import EventType
from src.store.webhooks import Delivery, Subscription


class WebhookCreate(Body):
    url: str = Field(max_length=2048, examples=["https://example.com/loyalty/webhooks"])
    events: list[EventType] = Field(min_length=1, max_length=5)


class WebhookOut(Schema):
    id: str
    url: str
    events: list[str]
    created_at: Instant

    @classmethod
    def of(cls, subscription: Subscription) -> WebhookOut:
        return cls.model_validate(subscription, from_attributes=True)


class WebhookCreated(WebhookOut):
    """The subscription and its signing secret, shown this once."""

    secret: str = Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])

    @classmethod
    def made(cls, subscription: Subscription, secret: str) -> WebhookCreated:
        return cls(**vars(subscription), secret=secret)


class SecretOut(Schema):
    secret: str


class DeliveryOut(Schema):
    """A notification to this webhook: ``id`` is its ``webhook-id`` header (the same on every
    attempt), ``attempts`` and the last reply's status or error."""

    id: str
    type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    resends: int
    last_status: int | None
    last_error: str | None
    created_at: Instant
    delivered_at: Instant | None
    body: dict[str, Any]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        """A stored delivery, its body (kept as the exact bytes sent) parsed for the reply."""
        return cls.model_validate({**vars(delivery), "body": json.loads(delivery.body)})
