"""ProcessAction: one workflow per accepted action, workflow ID = event ID.

It plans, then grants each planned effect in priority order, each with the effect's idempotency
key as its activity ID. Both run as local activities: the whole action is usually one workflow
task (started eagerly by the relay, or taken from the task queue where Temporal's fairness gives
every org its turn), rather than a chain of tasks queued behind other orgs' on the worker's own
(sticky) queue. A step still failing after a few quick local tries becomes a regular activity:
while an outage lasts, its attempts, last failure and next retry show in the UI as a pending
activity, and any worker may take it. Nothing here reads a clock, the environment or
randomness, so recorded histories replay deterministically.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Final, TypeVar

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from src.activities.actions import ActionActivities
    from src.domain.actions import ActionInput
    from src.domain.effects import ActionPlan, EffectRequest
    from src.workflows import search_attributes as sa

RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# Local tries within the workflow task (200 ms, then 400 ms apart) before a regular activity.
LOCAL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_attempts=3
)
# DB work takes milliseconds; a short timeout lets a crashed worker's attempt be retried soon.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
# Shapes. Since 0.3.0 a failing step moves on to a regular activity (the starter names this
# shape in the run's input). Older runs replay on the shape they recorded: in 0.2.0 a local
# activity retried locally for as long as it failed (a patch marker says so); before 0.2.0
# (no marker) every step was a regular activity.
LOCAL_THEN_REGULAR: Final = "local-then-regular"
LOCAL_ACTIVITIES = "local-activities"
REGULAR = "regular"

# A refund action waiting for its purchase to settle (since 0.6.0; a patch marker says so)
# plans again after 1 s, 2 s, 4 s … at most WAIT_STEP apart, for WAIT_BOUND in all.
WAITS: Final = "refund-waits-on-a-timer"
WAIT_FIRST = timedelta(seconds=1)
WAIT_STEP = timedelta(minutes=5)
WAIT_BOUND = timedelta(days=1)

Arg = TypeVar("Arg")
Result = TypeVar("Result")


@workflow.defn(name="ProcessAction")
class ProcessAction:
    @workflow.run
    async def run(self, action: ActionInput) -> str:
        shape = _shape(action)
        try:
            plan = await _plan(shape, action)
            if plan.status == "waiting" and workflow.patched(WAITS):
                plan = await _wait_for_original(shape, action, plan)
        except (ActivityError, ApplicationError) as err:
            reason = _permanent(err)  # the activity recorded the event failed (plan_error)
            workflow.set_current_details(f"**failed**: {reason} (planning gave up; replayable)")
            workflow.upsert_search_attributes([sa.OUTCOME.value_set("failed")])
            return "failed"
        outcome: str = plan.status
        user_id = plan.user_id or action.user_id
        failures: list[str] = []
        details: list[str] = []
        for effect in plan.effects:
            request = EffectRequest(
                org_id=action.org_id, event_id=action.event_id, user_id=user_id, effect=effect
            )
            summary = effect.summary(user_id)
            try:
                await _execute(
                    shape,
                    action,
                    ActionActivities.apply_effect,
                    request,
                    summary,
                    activity_id=effect.key,
                )
                details.append(f"- {summary}: granted")
            except (ActivityError, ApplicationError) as err:
                failures.append(_permanent(err))
                details.append(f"- {summary}: **{failures[-1]}**")
        if plan.effects:
            outcome = "failed" if failures else "processed"
        # What the UI shows as the run's current details: why it failed or was skipped.
        headline = f"**{outcome}**" + (f": {plan.reason}" if plan.reason else "")
        workflow.set_current_details("\n".join([headline, *details]))
        updates: list[SearchAttributeUpdate[Any]] = [sa.OUTCOME.value_set(outcome)]
        if plan.campaign_ids:
            updates.append(sa.CAMPAIGN_IDS.value_set(plan.campaign_ids))
        if plan.user_id:  # the platform user it resolved to, never an email or a phone
            updates.append(sa.USER_ID.value_set(plan.user_id))
        workflow.upsert_search_attributes(updates)
        return outcome


async def _plan(shape: str, action: ActionInput) -> ActionPlan:
    return await _execute(
        shape, action, ActionActivities.plan_action, action, f"plan {action.action}"
    )


async def _wait_for_original(shape: str, action: ActionInput, plan: ActionPlan) -> ActionPlan:
    """A refund action whose purchase is still being processed: its event shows ``waiting``
    (outside the relay's window, so the purchase can start) while the run sleeps on durable
    timers, planning again after each, backing off to WAIT_STEP; after WAIT_BOUND it is planned
    a last time without waiting (skipped ``reversal_refused:not_settled``, replayable)."""
    delay, waited = WAIT_FIRST, timedelta(0)
    while plan.status == "waiting" and waited < WAIT_BOUND:
        workflow.set_current_details(f"**waiting**: {plan.reason} (planned again in {delay})")
        await workflow.sleep(delay, summary="wait for the action it reverses to settle")
        waited += delay
        delay = min(delay * 2, WAIT_STEP)
        plan = await _plan(shape, action)
    if plan.status == "waiting":
        plan = await _plan(shape, action.model_copy(update={"waited_out": True}))
    return plan


def _shape(action: ActionInput) -> str:
    """The shape the run was started for, or the one a run from before 0.3.0 recorded."""
    if action.workflow_shape is not None:
        return action.workflow_shape
    return LOCAL_ACTIVITIES if workflow.patched(LOCAL_ACTIVITIES) else REGULAR


async def _execute(
    shape: str,
    action: ActionInput,
    step: Callable[[ActionActivities, Arg], Awaitable[Result]],
    arg: Arg,
    summary: str,
    activity_id: str | None = None,
) -> Result:
    """One step, by method reference (so its argument and result are type-checked): as a local
    activity, then, if it still fails for a reason that may pass, as a regular activity queued
    fairly by org under the same activity ID."""
    if shape != REGULAR:
        try:
            return await workflow.execute_local_activity_method(
                step,
                arg,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=LOCAL_RETRY if shape == LOCAL_THEN_REGULAR else RETRY,
                activity_id=activity_id,
                summary=summary,
            )
        except (ActivityError, ApplicationError) as err:
            if shape != LOCAL_THEN_REGULAR or _reason(err) is not None:
                raise
    return await workflow.execute_activity_method(
        step,
        arg,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=RETRY,
        activity_id=activity_id,
        summary=summary,
        priority=Priority(fairness_key=action.org_id),
    )


def _reason(err: ActivityError | ApplicationError) -> str | None:
    """The reason of an activity's permanent, typed failure (a local activity raises it as
    is, a regular one wrapped), or None for a failure that may pass."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return cause.type or "failed"
    return None


def _permanent(err: ActivityError | ApplicationError) -> str:
    """The reason of a permanent failure; anything else is re-raised."""
    reason = _reason(err)
    if reason is None:
        raise err
    return reason
