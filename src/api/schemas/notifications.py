"""What each webhook notification carries: one model per type, the contract a receiver can
generate its types from (the API publishes them in its document's ``webhooks`` section).

They describe the bodies exactly as sent, field names included (camelCase, as the rest of the
API): ``{"type", "timestamp", "data"}``, numbers of points as decimal strings. A test holds
every delivered body to its model, so a field cannot be added or renamed without it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from src.domain.webhooks import EventType


def _decimal() -> Any:
    return Field(default=None, pattern=r"^-?\d+(\.\d+)?$", description="A decimal, as a string.")


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RewardGranted(_Data):
    """A grant: what the user got, by which event and campaign."""

    eventId: str
    userId: str
    campaignId: str
    type: Literal["add_points", "award_product", "allocate_code"]
    amount: str | None = _decimal()
    currency: str | None
    productId: str | None
    code: str | None
    balanceAfter: str | None = _decimal()
    transactionId: str | None


class RewardReversed(_Data):
    """What a reversal (a refund) took back from what the event granted."""

    eventId: str
    reversalId: str
    entries: int = Field(description="Ledger rows the reversal wrote.")
    points: dict[str, str] = Field(description="Points taken back, by currency (decimals).")
    products: int
    codes: int
    full: bool = Field(description="Everything the event granted is now taken back.")
    productIds: list[str]
    revokedCodes: list[str]


class EventEnded(_Data):
    """An event that ended without its rewards: why, by its reason."""

    eventId: str
    status: Literal["failed", "skipped"]
    reason: str | None


class PoolLowStock(_Data):
    """An allocation took the code pool to its low-stock threshold (once until restocked)."""

    poolId: str
    threshold: int


D = TypeVar("D", bound=_Data)


class Notification(BaseModel, Generic[D]):
    """The body of every delivery."""

    model_config = ConfigDict(extra="forbid")

    type: EventType
    timestamp: datetime
    data: D


class RewardGrantedNotification(Notification[RewardGranted]):
    type: Literal["reward.granted"]


class RewardReversedNotification(Notification[RewardReversed]):
    type: Literal["reward.reversed"]


class EventFailedNotification(Notification[EventEnded]):
    type: Literal["event.failed"]


class EventSkippedNotification(Notification[EventEnded]):
    type: Literal["event.skipped"]


class PoolLowStockNotification(Notification[PoolLowStock]):
    type: Literal["pool.low_stock"]


NOTIFICATIONS: dict[EventType, type[BaseModel]] = {
    "reward.granted": RewardGrantedNotification,
    "reward.reversed": RewardReversedNotification,
    "event.failed": EventFailedNotification,
    "event.skipped": EventSkippedNotification,
    "pool.low_stock": PoolLowStockNotification,
}
