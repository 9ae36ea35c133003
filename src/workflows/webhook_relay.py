"""The webhook outbox's relay: starts a DeliverWebhook run for each delivery written (in the
transaction of what it announces) and not started yet. Starts are idempotent (the run's ID is
the delivery's), so a pass that dies before marking them started only starts them again.

Fair like the action relay: webhooks are taken round-robin, each within a window of started,
undelivered deliveries of its own and of its org (``store.webhooks.claim``), so receivers that
never answer hold a few runs (and so a few of WEBHOOK_SLOTS) while the rest of their backlog
waits in PostgreSQL. It also deletes old delivered and failed rows, a bounded batch a minute."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.common import Priority, WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from src.domain.webhooks import DeliveryInput
from src.store import webhooks
from src.workflows import idling
from src.workflows.deliver_webhook import DeliverWebhook
from src.workflows.starter import START_TIMEOUT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """The retry schedule every delivery run is started with."""

    first_retry_seconds: float
    max_retry_seconds: float
    give_up_seconds: float


PURGE_EVERY = 60.0  # seconds between retention batches
PURGE_BATCH = 1000


@dataclass(frozen=True)
class WebhookRelay:
    client: Client
    engine: AsyncEngine
    task_queue: str
    schedule: Schedule
    idle_seconds: float
    window: webhooks.Window
    retention_seconds: float
    # Set when deliveries were written or one of this process left its window (``idling``).
    wake: asyncio.Event | None = None

    async def relay_once(self, after: str | None = None) -> tuple[int, str | None]:
        """One pass: (runs started, round-robin cursor for the next pass)."""
        async with self.engine.begin() as conn:
            claimed, after = await webhooks.claim(conn, self.window, after)
            outcomes = await asyncio.gather(
                *(self._start(r.id, str(r.org_id), r.resends) for r in claimed),
                return_exceptions=True,
            )
            started = [r.id for r, o in zip(claimed, outcomes, strict=True) if o is None]
            await webhooks.mark_started(conn, started)
        if len(started) < len(claimed):
            log.warning("webhook relay could not start %d runs yet", len(claimed) - len(started))
        return len(started), after

    async def purge_once(self) -> int:
        async with self.engine.begin() as conn:
            return await webhooks.purge(conn, self.retention_seconds, PURGE_BATCH)

    async def _start(self, delivery_id: str, org_id: str, resends: int) -> None:
        delivery = DeliveryInput(
            delivery_id=delivery_id,
            org_id=org_id,
            first_retry_seconds=self.schedule.first_retry_seconds,
            max_retry_seconds=self.schedule.max_retry_seconds,
            give_up_seconds=self.schedule.give_up_seconds,
            local_attempts=True,
        )
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self.client.start_workflow(
                DeliverWebhook.run,
                delivery,
                id=delivery_id if not resends else f"{delivery_id}:resend:{resends}",
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                rpc_timeout=START_TIMEOUT,
                static_summary=f"webhook {delivery_id}",
                priority=Priority(fairness_key=org_id),
                request_eager_start=True,
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set, purging now and then; while nothing can be started,
        wait for ``wake``, looking again less and less often (``idling``)."""
        after, purged_at, backoff = None, 0.0, self.idle_seconds
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if self.wake is not None:
                self.wake.clear()  # what happens from here on wakes the next pass
            try:
                if loop.time() - purged_at >= PURGE_EVERY:
                    purged_at = loop.time()
                    await self.purge_once()
                started, after = await self.relay_once(after)
            except Exception:
                log.warning("webhook relay pass failed; retrying", exc_info=True)
                started = 0
            if started:
                backoff = self.idle_seconds
                continue
            await idling.pause(stop, backoff, self.wake)
            if self.wake is not None:
                backoff = idling.longer(backoff, self.idle_seconds)
