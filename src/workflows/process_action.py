"""ProcessAction: one workflow per accepted action, workflow ID = event ID.

Activity 1 plans; then one activity per planned effect, in priority order, each with the
effect's idempotency key as its activity ID. Nothing here reads a clock, the environment or
randomness, so recorded histories replay deterministically.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from src.activities.names import APPLY_EFFECT, PLAN_ACTION
    from src.domain.actions import ActionInput
    from src.domain.effects import ActionPlan, EffectRequest, EffectResult
    from src.workflows import search_attributes as sa

RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# DB work takes milliseconds; a short timeout lets a crashed worker's attempt be retried soon.
ACTIVITY_TIMEOUT = timedelta(seconds=10)


@workflow.defn(name="ProcessAction")
class ProcessAction:
    @workflow.run
    async def run(self, action: ActionInput) -> str:
        plan = await workflow.execute_activity(
            PLAN_ACTION,
            action,
            result_type=ActionPlan,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=f"plan {action.action} · {action.user_id}",
        )
        outcome = plan.status
        user_id = plan.user_id or action.user_id
        failures: list[str] = []
        for effect in plan.effects:
            try:
                await workflow.execute_activity(
                    APPLY_EFFECT,
                    EffectRequest(
                        org_id=action.org_id,
                        event_id=action.event_id,
                        user_id=user_id,
                        effect=effect,
                    ),
                    result_type=EffectResult,
                    activity_id=effect.key,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=RETRY,
                    summary=effect.summary(user_id),
                )
            except ActivityError as err:
                cause = err.cause
                if not isinstance(cause, ApplicationError) or not cause.non_retryable:
                    raise
                failures.append(cause.type or "failed")
        if plan.effects:
            outcome = "failed" if failures else "processed"
        updates: list[SearchAttributeUpdate[Any]] = [sa.OUTCOME.value_set(outcome)]
        if plan.campaign_ids:
            updates.append(sa.CAMPAIGN_IDS.value_set(plan.campaign_ids))
        if user_id != action.user_id:
            updates.append(sa.USER_ID.value_set(user_id))
        workflow.upsert_search_attributes(updates)
        return outcome
