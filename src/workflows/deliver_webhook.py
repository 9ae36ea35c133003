"""DeliverWebhook: one run per delivery (ID = the delivery's ``webhook-id``, and its resend
count), on the webhook task queue. Attempts back off exponentially from the input's first
interval up to its cap, for up to the input's give-up time (3 days by default) from the run's
start (``domain.webhooks.next_retry``); then, or when an operator cancels the run, the delivery
is marked failed, and may be re-sent.

Each attempt is one local activity of a run started eagerly, and the run waits between
attempts on a durable timer: a delivery accepted at once costs one workflow task, half what a
regular activity costs the Temporal server every org shares. The schedule is the workflow's
own, not a local retry policy, so the give-up time holds exactly.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from src.activities.webhooks import WebhookActivities
    from src.domain.webhooks import DeliveryInput, next_retry
    from src.workflows.process_action import ACTIVITY_TIMEOUT, RETRY

ATTEMPT_TIMEOUT = timedelta(seconds=30)  # beyond the deployment's request timeout (10 s)
ONE_TRY = RetryPolicy(maximum_attempts=1)


@workflow.defn(name="DeliverWebhook")
class DeliverWebhook:
    @workflow.run
    async def run(self, delivery: DeliveryInput) -> str:
        if delivery.local_attempts:
            outcome = await self._attempts(delivery)
        else:
            outcome = await self._scheduled_activity(delivery)
        workflow.set_current_details(f"**{outcome}**")
        return outcome

    async def _attempts(self, delivery: DeliveryInput) -> str:
        try:
            return await self._until_delivered(delivery)
        except asyncio.CancelledError:  # cancelled by an operator: failed, so it can be re-sent
            await self._failed(delivery)
            raise

    async def _until_delivered(self, delivery: DeliveryInput) -> str:
        started, failures = workflow.info().workflow_start_time, 0
        while True:
            try:
                outcome: str = await workflow.execute_local_activity_method(
                    WebhookActivities.deliver_webhook,
                    delivery,
                    start_to_close_timeout=ATTEMPT_TIMEOUT,
                    retry_policy=ONE_TRY,
                )
                return outcome
            # A local activity's own failure arrives as is; a timeout or cancel, wrapped.
            except (ActivityError, ApplicationError) as err:
                if isinstance(err.cause, CancelledError):
                    raise asyncio.CancelledError from err
            failures += 1
            wait = next_retry(delivery, failures, started, workflow.now())
            if wait is None:
                break
            await workflow.sleep(wait)
        await self._failed(delivery)
        return "failed"

    async def _failed(self, delivery: DeliveryInput) -> None:
        await workflow.execute_local_activity_method(
            WebhookActivities.webhook_failed,
            delivery,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )

    async def _scheduled_activity(self, delivery: DeliveryInput) -> str:
        """Runs 0.4.0 started: one regular activity retried on the same schedule."""
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
