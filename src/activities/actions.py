"""Activities of ProcessAction: all of the workflow's I/O, each in one database transaction.

Thin by design: the use cases are ``services.planning`` and ``services.grants``; what is here
is the retry policy around them (an outage is retried as long as it lasts, any other fault a
bounded number of times) and the fault hooks tests inject.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from src.activities.attempts import or_give_up, or_instead
from src.domain import errors
from src.domain.actions import ActionInput
from src.domain.backtests import BacktestInput
from src.domain.effects import ActionPlan, EffectRequest, EffectResult
from src.domain.reversals import ReversalInput, ReversalResult
from src.metrics import EFFECTS, LIMIT_REFUSALS, PLANNED, settled
from src.services import grants, reversals
from src.services.planning import Planner

log = logging.getLogger(__name__)


def about(org_id: str, event_id: str) -> contextlib.AbstractContextManager[Any]:
    """What every log line of this activity concerns (its workflow's ID is the event's)."""
    return structlog.contextvars.bound_contextvars(
        orgId=org_id, eventId=event_id, workflowId=event_id
    )


@dataclass(frozen=True)
class Hooks:
    """Fault injection for tests: fail a plan or a reversal, or fail an effect's or a
    reversal's attempt after its transaction committed, the cases exactly-once must survive;
    stop a backtest after a page is saved, as a worker dying mid-run would."""

    before_plan: Callable[[ActionInput], Awaitable[None]] | None = None
    before_reversal: Callable[[ReversalInput], Awaitable[None]] | None = None
    after_effect: Callable[[EffectRequest, EffectResult], Awaitable[None]] | None = None
    after_reversal: Callable[[ReversalInput, ReversalResult], Awaitable[None]] | None = None
    after_backtest_page: Callable[[BacktestInput, int], Awaitable[None]] | None = None


class ActionActivities:
    """Holds the process' engine and the attempt budget for faults that are not outages."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        max_attempts: int,
        hooks: Hooks | None = None,
        starts: reversals.Starts | None = None,
        settled: Callable[[], None] | None = None,
    ) -> None:
        """``max_attempts``: ``Settings.activity_max_attempts``. ``settled`` is called whenever
        an event settles here (the relay's window has room)."""
        self.engine = engine
        self.planner = Planner(engine, starts)
        self.hooks = hooks or Hooks()
        self.max_attempts = max_attempts
        self.on_settled = settled

    def _settled(self, status: str, reason: str | None) -> None:
        settled(status, reason)
        if self.on_settled is not None:
            self.on_settled()

    @activity.defn(name="plan_action")  # names recorded in histories: never change them
    async def plan_action(self, action: ActionInput) -> ActionPlan:
        """Plan the action (``Planner.plan``); a plan that keeps failing ends the event
        failed (``plan_error``) and raises a non-retryable error of that type."""
        with about(action.org_id, action.event_id):
            return await self._plan(action)

    async def _plan(self, action: ActionInput) -> ActionPlan:
        async def planned() -> ActionPlan:
            if self.hooks.before_plan is not None:
                await self.hooks.before_plan(action)
            return await self.planner.plan(action)

        async def record_failure(_error: str) -> None:
            await self.planner.give_up(action)
            PLANNED.labels("failed", errors.PLAN_ERROR).inc()
            self._settled("failed", errors.PLAN_ERROR)

        plan = await or_give_up(
            planned, self.max_attempts, errors.PLAN_ERROR, "planning", record_failure
        )
        # A line per outcome: a plan with effects is told by each effect's own line.
        (log.debug if plan.effects else log.info)(
            "planned: %s, %d effects", plan.status, len(plan.effects)
        )
        PLANNED.labels(plan.status, plan.reason or "").inc()
        if plan.status in ("processed", "skipped"):  # settled by the plan: nothing to grant
            self._settled(plan.status, plan.reason)
        for limited in plan.limited:
            LIMIT_REFUSALS.labels(limited.reason).inc()
        return plan

    @activity.defn(name="apply_effect")
    async def apply_effect(self, request: EffectRequest) -> EffectResult:
        """Grant one effect exactly once; a permanent failure is non-retryable, typed by reason.

        A fault that is not an outage gives up after ``max_attempts``: the effect is recorded
        failed (``effect_error``) unless an earlier attempt granted it.
        """
        with about(request.org_id, request.event_id):
            return await self._apply(request)

    async def _apply(self, request: EffectRequest) -> EffectResult:
        applied = await or_instead(
            lambda: grants.apply(self.engine, request),
            self.max_attempts,
            lambda _error: grants.fail(self.engine, request, errors.EFFECT_ERROR),
        )
        result = applied.result
        if applied.settled is not None:
            self._settled(applied.settled.status, applied.settled.reason)
        log.info(
            "%s %s", request.effect.type, result.status, extra={"effectKey": request.effect.key}
        )
        EFFECTS.labels(request.effect.type, result.status, result.reason or "").inc()
        if self.hooks.after_effect is not None:
            await self.hooks.after_effect(request, result)
        if result.status == "failed":  # an expected outcome (empty pool…): not logged as an error
            raise ApplicationError(
                f"{request.effect.type} failed: {result.reason}",
                type=result.reason,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        return result
