"""DeliverWebhook: one run per delivery (ID = the delivery's ``webhook-id``, and its resend
count). Attempts back off exponentially from the input's first interval up to its cap, for
up to the input's give-up time (3 days by default) from the run's start; then the delivery is
marked failed, and may be re-sent.

Each attempt is one local activity in a run started eagerly, and the run waits between
attempts on a durable timer: a delivery accepted at once costs one workflow task, half what a
regular activity costs the Temporal server every org shares. The schedule is the workflow's
own, not a local retry policy, so the give-up time holds exactly. Runs start at background
priority (``priorities``): notifications wait behind grants, never the reverse.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as AttemptTimedOut

with workflow.unsafe.imports_passed_through():
    from src.activities.webhooks import WebhookActivities
    from src.domain.webhooks import DeliveryInput
    from src.workflows.process_action import ACTIVITY_TIMEOUT, RETRY

ATTEMPT_TIMEOUT = timedelta(seconds=30)  # beyond the deployment's request timeout (10 s)
ONE_TRY = RetryPolicy(maximum_attempts=1)
# Runs started by 0.4.0 workers retry one regular activity; they replay down that path, which
# can go once no such run is open (3 days after the upgrade).
LOCAL_ATTEMPTS = "deliver-in-local-attempts"


@workflow.defn(name="DeliverWebhook")
class DeliverWebhook:
    @workflow.run
    async def run(self, delivery: DeliveryInput) -> str:
        if workflow.patched(LOCAL_ATTEMPTS):
            outcome = await self._attempts(delivery)
        else:
            outcome = await self._scheduled_activity(delivery)
        workflow.set_current_details(f"**{outcome}**")
        return outcome

    async def _attempts(self, delivery: DeliveryInput) -> str:
        give_up = workflow.info().start_time + timedelta(seconds=delivery.give_up_seconds)
        wait = delivery.first_retry_seconds
        while True:
            try:
                outcome: str = await workflow.execute_local_activity_method(
                    WebhookActivities.deliver_webhook,
                    delivery,
                    start_to_close_timeout=ATTEMPT_TIMEOUT,
                    retry_policy=ONE_TRY,
                )
                return outcome
            except (ActivityError, ApplicationError, AttemptTimedOut):  # a local one raises as is
                if workflow.now() + timedelta(seconds=wait) > give_up:
                    break
            await workflow.sleep(wait)
            wait = min(wait * 2, delivery.max_retry_seconds)
        await workflow.execute_local_activity_method(
            WebhookActivities.webhook_failed,
            delivery,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        return "failed"

    async def _scheduled_activity(self, delivery: DeliveryInput) -> str:
        priority = Priority(fairness_key=delivery.org_id)
        try:
            outcome: str = await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                delivery,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=timedelta(seconds=delivery.give_up_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=delivery.first_retry_seconds),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=delivery.max_retry_seconds),
                ),
                priority=priority,
            )
        except ActivityError:
            await workflow.execute_activity_method(
                WebhookActivities.webhook_failed,
                delivery,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                priority=priority,
            )
            outcome = "failed"
        return outcome
