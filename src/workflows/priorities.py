"""Task-queue priorities. Actions and reversals run at Temporal's default priority (3); work
nobody waits on at a till (webhook deliveries, backtests) runs after it, so a burst of it
queues behind grants and never the other way round. Within a priority, Fairness shares the
queue by org."""

from __future__ import annotations

from temporalio.common import Priority

BACKGROUND = 4


def background(org_id: str) -> Priority:
    return Priority(priority_key=BACKGROUND, fairness_key=org_id)
