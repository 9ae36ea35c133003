"""The webhook notifications, as the document's ``webhooks`` section (OpenAPI 3.1): what the
engine POSTs to a subscribed URL, one operation per type with its body's model
(``schemas.notifications``), signed with the Standard Webhooks headers. Nothing here is
served: these describe the requests a receiver gets."""

from __future__ import annotations

from fastapi import APIRouter

from src.api.schemas.notifications import (
    EventFailedNotification,
    EventSkippedNotification,
    PoolLowStockNotification,
    RewardGrantedNotification,
    RewardReversedNotification,
)

router = APIRouter(tags=["webhooks"])


@router.post("reward.granted", operation_id="rewardGranted")
def reward_granted(body: RewardGrantedNotification) -> None:
    """A campaign's effect was granted to a user."""


@router.post("reward.reversed", operation_id="rewardReversed")
def reward_reversed(body: RewardReversedNotification) -> None:
    """A reversal (a refund) took back what an event granted."""


@router.post("event.failed", operation_id="eventFailed")
def event_failed(body: EventFailedNotification) -> None:
    """An event ended failed (replayable once the cause is fixed)."""


@router.post("event.skipped", operation_id="eventSkipped")
def event_skipped(body: EventSkippedNotification) -> None:
    """An event was skipped by its plan (unknown user, a refund it cannot apply…)."""


@router.post("pool.low_stock", operation_id="poolLowStock")
def pool_low_stock(body: PoolLowStockNotification) -> None:
    """A code pool reached its low-stock threshold."""
