"""Replaying events: a failed or skipped event (or any finished one) runs again as a new run
of the same workflow ID. Grants already made hit their ledger keys, so only what failed or was
skipped can be granted."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from src.domain.actions import EventStatus
from src.domain.errors import Conflict, NotFound
from src.runtime.workflows import start_replay
from src.store import events

REPLAYABLE = {EventStatus.processed, EventStatus.skipped, EventStatus.failed}


async def replay(
    client: Client, engine: AsyncEngine, org_id: str, event_id: str, task_queue: str
) -> str:
    """Start the new run; returns its run ID. The event shows ``queued`` until it is planned."""
    async with engine.begin() as conn:
        found = await events.lock_for_replay(conn, org_id, event_id)
        if found is None:
            raise NotFound(f"event '{event_id}' not found")
        action, status = found
        if status not in REPLAYABLE:
            raise Conflict(f"event '{event_id}' is {status}; only finished events can be replayed")
        await events.requeue(conn, event_id)
        try:
            return await start_replay(client, action, task_queue)
        except WorkflowAlreadyStartedError as exc:
            raise Conflict(f"event '{event_id}' has a run in progress") from exc
