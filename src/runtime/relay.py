"""Outbox relay: starts the workflow of every accepted event. The API only commits event rows,
so acceptance neither waits on Temporal nor stops while it is down. Any number of relays may
run: batches are claimed SKIP LOCKED, and starting an existing workflow ID is a no-op."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from src.runtime.workflows import start_action
from src.store import events

log = logging.getLogger(__name__)
BATCH = 200
MAX_BACKOFF = 5.0


async def relay_once(client: Client, engine: AsyncEngine, task_queue: str) -> tuple[int, int]:
    """Start one batch; returns (claimed, started). Rows stay claimed only until commit."""
    async with engine.begin() as conn:
        pending = await events.claim_unstarted(conn, BATCH)
        if not pending:
            return 0, 0
        outcomes = await asyncio.gather(
            *(start_action(client, action, task_queue) for action in pending),
            return_exceptions=True,
        )
        started = [a.event_id for a, o in zip(pending, outcomes, strict=True) if o is None]
        await events.mark_started(conn, started)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        log.warning("relay could not start %d workflows: %r", len(failures), failures[0])
    return len(pending), len(started)


async def run_forever(
    client: Client, engine: AsyncEngine, task_queue: str, idle_seconds: float
) -> None:
    """Poll the outbox; back off while Temporal or the database is unavailable."""
    backoff = idle_seconds
    while True:
        try:
            claimed, started = await relay_once(client, engine, task_queue)
        except Exception:
            log.warning("relay pass failed; retrying", exc_info=True)
            claimed, started = 0, -1
        if started == claimed == BATCH:
            backoff = idle_seconds
            continue
        if started < claimed or started < 0:
            backoff = min(max(backoff * 2, 0.2), MAX_BACKOFF)
        else:
            backoff = idle_seconds
        await asyncio.sleep(backoff)
