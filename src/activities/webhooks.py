"""The activities of DeliverWebhook: one attempt (``services.webhooks.deliver``), and marking
the delivery failed once the run's retries are spent."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from src.domain.webhooks import DeliveryInput
from src.services import webhooks


class WebhookActivities:
    """``settled`` is told when a delivery leaves its webhook's window (delivered, gone or
    failed for good), so this process's relay starts the next one at once."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        how: webhooks.Delivering,
        settled: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.how = how
        self.settled = settled or (lambda: None)

    @activity.defn(name="deliver_webhook")  # recorded in histories: never rename
    async def deliver_webhook(self, delivery: DeliveryInput) -> str:
        try:
            outcome = await webhooks.deliver(self.engine, delivery.delivery_id, self.how)
        except webhooks.DeliveryFailed as exc:  # retried on the run's schedule
            # Benign: a receiver's 500 is its org's to see (``lastError``), not a fault of
            # ours, so the SDK logs it at DEBUG rather than a traceback per attempt.
            raise ApplicationError(
                str(exc), type="webhook_attempt_failed", category=ApplicationErrorCategory.BENIGN
            ) from None
        self.settled()
        return outcome

    @activity.defn(name="webhook_failed")
    async def webhook_failed(self, delivery: DeliveryInput) -> None:
        await webhooks.give_up(self.engine, delivery.delivery_id)
        self.settled()
