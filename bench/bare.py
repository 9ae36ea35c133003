"""Baseline for the drain benchmark: a workflow with the same number of activities as a
ProcessAction run, each activity a no-op, on the same Temporal server."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

QUEUE = "bench-bare"


@activity.defn
async def noop(_: int) -> int:
    return 0


@workflow.defn
class Bare:
    @workflow.run
    async def run(self, activities: int) -> int:
        for i in range(activities):
            await workflow.execute_activity(noop, i, start_to_close_timeout=timedelta(seconds=10))
        return activities


async def serve(address: str) -> None:
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=QUEUE,
        workflows=[Bare],
        activities=[noop],
        max_concurrent_activities=50,
        max_concurrent_workflow_tasks=50,
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
