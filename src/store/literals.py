"""Statuses as SQL texts and partial-index predicates spell them: written from their one
definition in the domain (``EventStatus``, ``DeliveryStatus``), never by hand. Migrations keep
the literals they were written with: they are history."""

from __future__ import annotations

from enum import StrEnum

from src.domain.actions import UNSETTLED, EventStatus
from src.domain.webhooks import DeliveryStatus


def quoted(*statuses: StrEnum) -> str:
    """``'queued', 'processing'``: the statuses as SQL string literals."""
    return ", ".join(f"'{status.value}'" for status in statuses)


UNSETTLED_SQL = quoted(*UNSETTLED)
# In the relay's window: started and neither settled nor waiting on a timer.
IN_FLIGHT_SQL = quoted(EventStatus.queued, EventStatus.processing)
QUEUED = quoted(EventStatus.queued)
WAITING = quoted(EventStatus.waiting)
PROCESSED = quoted(EventStatus.processed)
FAILED = quoted(EventStatus.failed)  # an event's, and an effect result's
PENDING = quoted(DeliveryStatus.pending)
