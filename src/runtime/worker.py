"""Worker composition root: engine, Temporal client, the ProcessAction worker and the relay."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import Worker

from src.activities.actions import ActionActivities, AfterCommitHook
from src.config import Settings
from src.runtime import relay
from src.runtime.temporal import connect, register_search_attributes
from src.store.db import make_engine
from src.workflows.process_action import ProcessAction

log = logging.getLogger(__name__)


def build_worker(
    client: Client,
    engine: AsyncEngine,
    task_queue: str,
    after_commit: AfterCommitHook | None = None,
) -> Worker:
    activities = ActionActivities(engine, after_commit)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ProcessAction],
        activities=[activities.plan_action, activities.apply_effect],
        max_concurrent_activities=50,
        max_concurrent_workflow_tasks=50,
    )


async def run_worker(settings: Settings) -> None:
    engine = make_engine(settings.require_database_url(), settings.db_pool_size)
    client = await connect(settings.require_temporal_address(), settings.temporal_namespace)
    await register_search_attributes(client)
    worker = build_worker(client, engine, settings.task_queue)
    log.info("worker polling task queue %s", settings.task_queue)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(worker.run())
            group.create_task(
                relay.run_forever(client, engine, settings.task_queue, settings.relay_idle_seconds)
            )
    finally:
        await engine.dispose()
