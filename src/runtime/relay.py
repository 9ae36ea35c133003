"""Outbox relay: starts the workflow of every accepted event. The API only commits event rows,
so acceptance neither waits on Temporal nor stops while it is down. Any number of relays may
run: batches are claimed SKIP LOCKED, and starting an existing workflow ID is a no-op."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from src.runtime.workflows import start_action
from src.store import events

log = logging.getLogger(__name__)
BATCH = 100
MAX_BACKOFF = 5.0
# Answers that no retry can change; anything else (unavailable, timeouts) is retried.
REJECTED = {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION}


async def relay_once(client: Client, engine: AsyncEngine, task_queue: str) -> tuple[int, int]:
    """Start one batch; returns (claimed, left for a later pass). Rows stay locked until commit,
    so every start is bounded by an RPC timeout."""
    async with engine.begin() as conn:
        pending = await events.claim_unstarted(conn, BATCH)
        if not pending:
            return 0, 0
        outcomes = await asyncio.gather(
            *(start_action(client, action, task_queue) for action in pending),
            return_exceptions=True,
        )
        started, retry = [], []
        for action, outcome in zip(pending, outcomes, strict=True):
            if outcome is None:
                started.append(action.event_id)
            elif isinstance(outcome, RPCError) and outcome.status in REJECTED:
                log.error("Temporal rejected %s for good: %s", action.event_id, outcome)
                await events.mark_rejected(conn, action.event_id, str(outcome))
            else:
                retry.append(outcome)
        await events.mark_started(conn, started)
    if retry:
        log.warning("relay could not start %d workflows yet: %r", len(retry), retry[0])
    return len(pending), len(retry)


async def run_forever(
    client: Client, engine: AsyncEngine, task_queue: str, idle_seconds: float
) -> None:
    """Poll the outbox; back off while Temporal or the database is unavailable."""
    backoff = idle_seconds
    while True:
        try:
            claimed, left = await relay_once(client, engine, task_queue)
        except Exception:
            log.warning("relay pass failed; retrying", exc_info=True)
            claimed, left = 0, 1
        if left:  # Temporal (or the database) is unavailable: back off
            backoff = min(max(backoff * 2, 0.2), MAX_BACKOFF)
        elif claimed == BATCH:  # a backlog: go straight on
            continue
        else:
            backoff = idle_seconds
        await asyncio.sleep(backoff)
