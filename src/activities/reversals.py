"""The activity of ReverseAction: one transaction taking an event's grants back
(``services.reversals.apply``), retried while the database is out, a bounded number of times
for any other fault (then the reversal ends ``failed``, and the run fails in the UI)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from src.activities.actions import MAX_ATTEMPTS, Hooks, about
from src.domain.reversals import ReversalInput, ReversalResult
from src.services import reversals
from src.store.db import is_transient

log = logging.getLogger(__name__)
REVERSAL_ERROR = "reversal_error"


class ReversalActivities:
    def __init__(
        self,
        engine: AsyncEngine,
        hooks: Hooks | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.engine = engine
        self.hooks = hooks or Hooks()
        self.max_attempts = max_attempts

    @activity.defn(name="reverse_action")  # recorded in histories: never rename
    async def reverse_action(self, reversal: ReversalInput) -> ReversalResult:
        with about(reversal.org_id, reversal.event_id):
            try:
                result = await reversals.apply(self.engine, reversal)
            except Exception as exc:
                if is_transient(exc) or activity.info().attempt < self.max_attempts:
                    raise
                await reversals.give_up(self.engine, reversal, type(exc).__name__)
                log.error("reversal %s gave up: %s", reversal.reversal_id, type(exc).__name__)
                raise ApplicationError(
                    f"reversal failed {activity.info().attempt} times: {type(exc).__name__}",
                    type=REVERSAL_ERROR,
                    non_retryable=True,
                ) from None
            log.info(
                "reversed: %d entries, %s", result.entries, "in full" if result.full else "part"
            )
            if self.hooks.after_reversal is not None:
                await self.hooks.after_reversal(reversal, result)
            return result
