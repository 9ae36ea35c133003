"""Baselines for the drain benchmark: bare workflows with ProcessAction's mix (80% one step,
20% one plus two), every step a no-op, on the same Temporal server as the engine.

Shapes: ``same`` is the engine's shape before 0.3.0 (regular activities, started through the
task queue); ``best`` is the fastest this server offers (local activities, eager start). The
starter shares the worker's client, as eager start needs, so this runs as a process of its own
and prints workflows/s.

Usage: python -m bench.bare ADDRESS SHAPE COUNT
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

SHAPES = {"same": False, "best": True}  # shape: local activities and eager start
STEP_TIMEOUT = timedelta(seconds=10)
WARM_UP = 100


@activity.defn
async def noop(_: int) -> int:
    return 0


@workflow.defn
class Bare:
    @workflow.run
    async def run(self, steps: int, local: bool) -> int:
        for i in range(steps):
            if local:
                await workflow.execute_local_activity(noop, i, start_to_close_timeout=STEP_TIMEOUT)
            else:
                await workflow.execute_activity(noop, i, start_to_close_timeout=STEP_TIMEOUT)
        return steps


async def drain(client: Client, shape: str, count: int) -> float:
    """Workflows/s for ``count`` workflows of the mix: 64 starts in flight, like the engine's
    per-org relay window, and a worker with room for all of them."""
    local = SHAPES[shape]
    queue = f"bench-bare-{shape}-{secrets.token_hex(3)}"
    semaphore = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with semaphore:
            handle = await client.start_workflow(
                Bare.run,
                args=[3 if i % 5 == 0 else 1, local],
                id=f"{queue}-{i}",
                task_queue=queue,
                request_eager_start=local,
            )
        await handle.result()

    async def run(first: int, last: int) -> float:
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(first, last)))
        return (last - first) / (time.perf_counter() - started)

    async with Worker(
        client,
        task_queue=queue,
        workflows=[Bare],
        activities=[noop],
        max_concurrent_activities=200,
        max_concurrent_local_activities=200,
        max_concurrent_workflow_tasks=200,
    ):
        await run(-WARM_UP, 0)  # as the engine's drain is measured on a warm worker
        return await run(0, count)


async def main(address: str, shape: str, count: int) -> None:
    print(round(await drain(await Client.connect(address), shape, count), 1))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    sys.stdout.flush()
    # Skip interpreter finalisation: the SDK's runtime threads can still call into Python
    # then and abort the process after the figure is out.
    os._exit(0)
