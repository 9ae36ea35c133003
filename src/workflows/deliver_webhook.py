"""DeliverWebhook: one run per delivery (ID = the delivery's ``webhook-id``, and its resend
count). Attempts back off exponentially from the input's first interval up to its cap, for
up to the input's give-up time (3 days by default); then the delivery is marked failed, and
may be re-sent."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from src.activities.webhooks import WebhookActivities
    from src.domain.webhooks import DeliveryInput
    from src.workflows.process_action import ACTIVITY_TIMEOUT, RETRY

ATTEMPT_TIMEOUT = timedelta(seconds=30)  # beyond the deployment's request timeout (10 s)


@workflow.defn(name="DeliverWebhook")
class DeliverWebhook:
    @workflow.run
    async def run(self, delivery: DeliveryInput) -> str:
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
        workflow.set_current_details(f"**{outcome}**")
        return outcome
