"""The activity of ReverseAction: one transaction taking an event's grants back
(``services.reversals.apply``), retried while the database is out, a bounded number of times
for any other fault (then the reversal ends ``failed``, and the run fails in the UI)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from src.activities.actions import Hooks, about
from src.activities.attempts import or_give_up
from src.domain.reversals import ReversalInput, ReversalResult
from src.services import reversals

log = logging.getLogger(__name__)
REVERSAL_ERROR = "reversal_error"


class ReversalActivities:
    def __init__(
        self, *, engine: AsyncEngine, max_attempts: int, hooks: Hooks | None = None
    ) -> None:
        self.engine = engine
        self.hooks = hooks or Hooks()
        self.max_attempts = max_attempts

    @activity.defn(name="reverse_action")  # recorded in histories: never rename
    async def reverse_action(self, reversal: ReversalInput) -> ReversalResult:
        with about(reversal.org_id, reversal.event_id):
            result = await or_give_up(
                lambda: self._apply(reversal),
                self.max_attempts,
                REVERSAL_ERROR,
                f"reversal {reversal.reversal_id}",
                lambda error: reversals.give_up(self.engine, reversal, error),
            )
            log.info(
                "reversed: %d entries, %s", result.entries, "in full" if result.full else "part"
            )
            if self.hooks.after_reversal is not None:
                await self.hooks.after_reversal(reversal, result)
            return result

    async def _apply(self, reversal: ReversalInput) -> ReversalResult:
        if self.hooks.before_reversal is not None:
            await self.hooks.before_reversal(reversal)
        return await reversals.apply(self.engine, reversal)
