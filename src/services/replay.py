"""Running an event's workflow again: a new run of the same workflow ID that reuses the event's
stored plan, so grants already made hit their ledger keys and only what failed, was skipped
or never ran can be granted.

Operators replay finished events (``replay``); the reconciler restarts events whose run ended
or vanished without settling them (``restart``).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from src.domain import errors
from src.domain.actions import EventStatus
from src.domain.errors import Conflict, NotFound
from src.store import events
from src.workflows.relay import is_rejection
from src.workflows.starter import start_replay

SETTLED = frozenset({EventStatus.processed, EventStatus.skipped, EventStatus.failed})
UNSETTLED = frozenset({EventStatus.queued, EventStatus.processing})
# A settled event's run still closes after its last transaction: wait that long for it.
CLOSING = timedelta(seconds=10)
ASK_TIMEOUT = timedelta(seconds=5)


async def run_status(client: Client, event_id: str) -> WorkflowExecutionStatus | None:
    """Status of the event's latest run; None when Temporal has no such workflow (never
    started there, or its history is gone). Any other failure to answer raises."""
    try:
        described = await client.get_workflow_handle(event_id).describe(rpc_timeout=ASK_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status


async def replay(
    client: Client, engine: AsyncEngine, org_id: str, event_id: str, task_queue: str
) -> str:
    """Start the new run; returns its run ID. The event shows ``queued`` until it is planned.

    A settled event whose run is still closing is replayed once that run has closed; an
    unsettled one is replayed only when no run of it is going on (a stranded event).
    """
    async with engine.connect() as conn:
        found = await events.replay_state(conn, org_id, event_id)
    if found is None:
        raise NotFound(f"event '{event_id}' not found")
    status, started = found
    if not started:
        raise Conflict(f"event '{event_id}' is not started yet; it will run without a replay")
    if await run_status(client, event_id) == WorkflowExecutionStatus.RUNNING:
        if status not in SETTLED:
            raise Conflict(f"event '{event_id}' has a run in progress")
        await _closed(client, event_id)
    run_id = await restart(client, engine, org_id, event_id, task_queue, SETTLED | UNSETTLED)
    assert run_id is not None
    return run_id


async def _closed(client: Client, event_id: str) -> None:
    """Wait for a closing run; still running after ``CLOSING`` is a run in progress."""
    handle = client.get_workflow_handle(event_id)
    try:
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(follow_runs=False), CLOSING.total_seconds())
    except TimeoutError as exc:
        raise Conflict(f"event '{event_id}' has a run in progress") from exc


async def restart(
    client: Client,
    engine: AsyncEngine,
    org_id: str,
    event_id: str,
    task_queue: str,
    statuses: frozenset[EventStatus],
    max_restarts: int | None = None,
) -> str | None:
    """Requeue the event and start a new run of its workflow if its status (read under the
    row's lock) is one of ``statuses``; returns the run ID, or None when it is not.

    With ``max_restarts`` (the reconciler), an event already restarted that often without
    settling ends failed as ``stranded`` (replayable) instead of running again.
    Raises Conflict while a run is open, and when Temporal rejects the start for good.
    """
    async with engine.begin() as conn:
        found = await events.lock_for_replay(conn, org_id, event_id)
        if found is None:
            raise NotFound(f"event '{event_id}' not found")
        if found.status not in statuses:
            return None
        if max_restarts is not None and found.restarts >= max_restarts:
            await events.fail_unsettled(conn, event_id, errors.STRANDED)
            return None
        await events.requeue(conn, event_id, restart=max_restarts is not None)
        try:
            return await start_replay(client, found.action, task_queue)
        except WorkflowAlreadyStartedError as exc:
            raise Conflict(f"event '{event_id}' has a run in progress") from exc
        except Exception as exc:
            if is_rejection(exc):
                raise Conflict(f"event '{event_id}' cannot be started: {exc}") from exc
            raise
