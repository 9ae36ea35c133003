"""The activities of DeliverWebhook: one attempt (``services.webhooks.deliver``), and marking
the delivery failed once the run's retries are spent."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from src.domain.webhooks import DeliveryInput
from src.services import webhooks


class WebhookActivities:
    def __init__(self, engine: AsyncEngine, how: webhooks.Delivering) -> None:
        self.engine = engine
        self.how = how

    @activity.defn(name="deliver_webhook")  # recorded in histories: never rename
    async def deliver_webhook(self, delivery: DeliveryInput) -> str:
        try:
            return await webhooks.deliver(self.engine, delivery.delivery_id, self.how)
        except webhooks.DeliveryFailed as exc:  # retried on the run's schedule
            raise ApplicationError(str(exc), type="webhook_attempt_failed") from None

    @activity.defn(name="webhook_failed")
    async def webhook_failed(self, delivery: DeliveryInput) -> None:
        await webhooks.give_up(self.engine, delivery.delivery_id)
