"""Worker composition root: engine, Temporal client, the ProcessAction worker, the relay that
starts workflows and the reconciler that restarts stranded ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from src import metrics, tracing
from src.activities.actions import ActionActivities, Hooks
from src.activities.backtests import BacktestActivities
from src.activities.reversals import ReversalActivities
from src.activities.webhooks import WebhookActivities
from src.config import Settings
from src.services.webhooks import Delivering, Resolver
from src.store import listening, outbox, status, webhooks
from src.store.changes import OUTBOX_CHANNEL
from src.store.db import make_engine
from src.workflows.backtest_campaign import BacktestCampaign
from src.workflows.client import connect, register_search_attributes, sdk_metrics_runtime
from src.workflows.deliver_webhook import DeliverWebhook
from src.workflows.process_action import ProcessAction
from src.workflows.reconciler import Reconciler
from src.workflows.relay import Relay
from src.workflows.reverse_action import ReverseAction
from src.workflows.starter import TemporalRuns
from src.workflows.webhook_relay import Schedule, WebhookRelay

log = logging.getLogger(__name__)


def build_worker(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    hooks: Hooks | None = None,
    settled: Callable[[], None] | None = None,
) -> Worker:
    """``settled``: see ActionActivities."""
    starts = TemporalRuns(client, settings.task_queue)  # refund actions start reversals
    attempts = settings.activity_max_attempts
    activities = ActionActivities(
        engine=engine, max_attempts=attempts, hooks=hooks, starts=starts, settled=settled
    )
    reversing = ReversalActivities(engine=engine, max_attempts=attempts, hooks=hooks)
    backtesting = BacktestActivities(engine=engine, max_attempts=attempts, hooks=hooks)
    delivering = webhook_activities(engine, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        # DeliverWebhook here only for runs 0.4.0 started on this queue (they end within 3 days).
        workflows=[ProcessAction, ReverseAction, BacktestCampaign, DeliverWebhook],
        activities=[
            activities.plan_action,
            activities.apply_effect,
            reversing.reverse_action,
            backtesting.backtest_campaign,
            delivering.deliver_webhook,
            delivering.webhook_failed,
        ],
        **_running(settings, settings.worker_slots),
    )


def _running(settings: Settings, slots: int) -> dict[str, Any]:
    """How a worker runs: ``slots`` of each kind, and the options every worker shares."""
    return {
        "max_concurrent_activities": slots,
        "max_concurrent_local_activities": slots,
        "max_concurrent_workflow_tasks": slots,
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_grace_seconds),
        # An activity handed to a worker eagerly, as it begins shutting down, is dropped and
        # waits for its timeout; through the task queue it goes to a worker that runs it.
        "disable_eager_activity_execution": True,
        # The workflows touch no clock, randomness or environment: the sandbox's per-run
        # re-import buys a runtime check the tests already make (replays, mocked runs).
        "workflow_runner": SandboxedWorkflowRunner()
        if settings.workflow_sandbox
        else UnsandboxedWorkflowRunner(),
    }


def webhook_activities(
    engine: AsyncEngine, settings: Settings, settled: Callable[[], None] | None = None
) -> WebhookActivities:
    return WebhookActivities(
        engine=engine,
        how=Delivering(
            settings.webhooks_allow_private_targets,
            settings.webhook_timeout_seconds,
            settings.sealer(),
            resolver=Resolver(settings.webhook_timeout_seconds),
        ),
        settled=settled,
    )


def build_webhook_worker(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    settled: Callable[[], None] | None = None,
) -> Worker:
    """Deliveries on a task queue and slots of their own: a receiver that answers slowly (or
    never) holds these, never the slots grants run in. ``settled``: see WebhookActivities."""
    delivering = webhook_activities(engine, settings, settled)
    return Worker(
        client,
        task_queue=settings.webhook_task_queue,
        workflows=[DeliverWebhook],
        activities=[delivering.deliver_webhook, delivering.webhook_failed],
        **_running(settings, settings.webhook_slots),
    )


def build_relay(
    client: Client, engine: AsyncEngine, settings: Settings, wake: asyncio.Event | None = None
) -> Relay:
    return Relay(
        client,
        engine,
        settings.task_queue,
        outbox.Window(
            per_org=settings.relay_window_per_org,
            total=settings.relay_window,
            batch=settings.relay_batch,
        ),
        outbox.StartRetry(first=0.5, most=30.0, cap=settings.relay_start_rejections),
        settings.relay_idle_seconds,
        wake,
    )


def build_webhook_relay(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    wake: asyncio.Event | None = None,
) -> WebhookRelay:
    schedule = Schedule(
        first_retry_seconds=settings.webhook_first_retry_seconds,
        max_retry_seconds=settings.webhook_max_retry_seconds,
        give_up_seconds=settings.webhook_give_up_seconds,
    )
    window = webhooks.Window(
        per_hook=min(settings.webhook_window_per_hook, settings.webhook_window_per_org),
        per_org=settings.webhook_window_per_org,
        batch=settings.relay_batch,
    )
    return WebhookRelay(
        client,
        engine,
        settings.webhook_task_queue,
        schedule,
        max(settings.relay_idle_seconds, 0.2),
        window,
        settings.webhook_retention_days * 86400,
        wake,
    )


def build_reconciler(client: Client, engine: AsyncEngine, settings: Settings) -> Reconciler:
    return Reconciler(
        TemporalRuns(client, settings.task_queue),
        engine,
        after_seconds=settings.reconcile_after_seconds,
        every_seconds=settings.reconcile_every_seconds,
    )


async def sample_backlog(engine: AsyncEngine, stop: asyncio.Event, every: float = 10.0) -> None:
    """Keep the outbox gauges current (every worker reads the same numbers: aggregate with
    max, not sum); a failed read leaves the last values for the next pass."""
    while not stop.is_set():
        try:
            async with engine.connect() as conn:
                now = await status.backlog(conn)
                largest = await status.busiest(conn, top=10)
        except Exception:
            log.warning("could not read the outbox backlog", exc_info=True)
        else:
            metrics.BACKLOG.labels("unstarted").set(now.unstarted)
            metrics.BACKLOG.labels("in_flight").set(now.in_flight)
            metrics.OLDEST_UNSTARTED.set(now.oldest_unstarted_seconds or 0.0)
            metrics.BACKLOG_BY_ORG.clear()
            for org, n in largest.items():
                metrics.BACKLOG_BY_ORG.labels(org).set(n)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def hear_outbox(database_url: str, wakes: dict[str, asyncio.Event]) -> None:
    """Set the wake an outbox notice names; all of them on (re)connecting, as notices sent
    while nobody listened are lost."""

    def heard(topic: str) -> None:
        if topic in wakes:
            wakes[topic].set()

    def connected() -> None:
        for wake in wakes.values():
            wake.set()

    await listening.listen(database_url, OUTBOX_CHANNEL, heard, connected, "loyalty-outbox")


async def serve(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    stop: asyncio.Event,
    hooks: Hooks | None = None,
) -> None:
    """Run the worker, the relay and the reconciler until ``stop`` is set, then shut down in
    order: the relay and the reconciler finish their pass and claim nothing more, then the
    worker stops polling and lets in-flight activities finish within the grace period."""
    # What wakes each relay (``workflows.idling``): rows written anywhere, or a run settling here.
    wakes = {"events": asyncio.Event(), "webhooks": asyncio.Event()}
    workers = [build_worker(client, engine, settings, hooks, wakes["events"].set)]
    workers.append(build_webhook_worker(client, engine, settings, wakes["webhooks"].set))
    sweeps = [
        build_relay(client, engine, settings, wakes["events"]).run(stop),
        build_reconciler(client, engine, settings).run(stop),
        build_webhook_relay(client, engine, settings, wakes["webhooks"]).run(stop),
        sample_backlog(engine, stop),
    ]
    hearing = asyncio.create_task(hear_outbox(settings.require_database_url(), wakes))
    polling = [asyncio.create_task(w.run(), name=w.task_queue) for w in workers]
    background = [asyncio.create_task(s) for s in sweeps]
    try:
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait([*polling, waiting, *background], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
    finally:
        stop.set()
        hearing.cancel()
        await asyncio.gather(*background, hearing, return_exceptions=True)
        await asyncio.gather(
            *(w.shutdown() for w, p in zip(workers, polling, strict=True) if not p.done())
        )
        await asyncio.gather(*polling)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    engine = make_engine(settings.require_database_url(), settings.db_pool_size)
    tracing.instrument_engine(engine, settings)
    client = await connect(settings, runtime=sdk_metrics_runtime(settings))
    await register_search_attributes(client)
    log.info("worker polling task queues %s, %s", settings.task_queue, settings.webhook_task_queue)
    try:
        await serve(client, engine, settings, stop)
    finally:
        await engine.dispose()
