"""Running an event's workflow again: a new run of the same workflow ID that reuses the event's
stored plan, so grants already made hit their ledger keys and only what failed, was skipped
or never ran can be granted.

Operators replay finished events (``replay``); the reconciler restarts events whose run ended
or vanished without settling them (``restart``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain import errors
from src.domain.actions import UNSETTLED as UNSETTLED_STATUSES
from src.domain.actions import ActionInput, EventStatus
from src.domain.errors import Conflict, NotFound, present
from src.services import outcomes
from src.store import recovery, reversals

SETTLED = frozenset({EventStatus.processed, EventStatus.skipped, EventStatus.failed})
UNSETTLED = frozenset(UNSETTLED_STATUSES)
# A settled event's run still closes after its last transaction: wait that long for it.
CLOSING = timedelta(seconds=10)


class Runs(Protocol):
    """The event workflows' runs, as replaying needs them (``workflows.starter.TemporalRuns``)."""

    async def running(self, event_id: str) -> bool:
        """Whether the event's latest run is open; a failure to answer raises."""

    async def closes_within(self, event_id: str, wait: timedelta) -> bool:
        """Wait up to ``wait`` for the open run to close; whether it did."""

    async def start_again(self, action: ActionInput) -> str:
        """A new run of the event's workflow; its run ID. Raises Conflict while a run is
        open, or when the workflow engine refuses the start for good."""


async def replay(runs: Runs, engine: AsyncEngine, org_id: str, event_id: str) -> str:
    """Start the new run; returns its run ID. The event shows ``queued`` until it is planned.

    A settled event whose run is still closing is replayed once that run has closed; an
    unsettled one is replayed only when no run of it is going on (a stranded event).
    """
    async with engine.connect() as conn:
        found = await recovery.replay_state(conn, org_id, event_id)
    if found is None:
        raise NotFound(f"event '{event_id}' not found")
    status, started = found
    if not started:
        raise Conflict(f"event '{event_id}' is not started yet; it will run without a replay")
    if await runs.running(event_id) and (
        status not in SETTLED or not await runs.closes_within(event_id, CLOSING)
    ):
        raise Conflict(f"event '{event_id}' has a run in progress")
    run_id = await restart(runs, engine, org_id, event_id, SETTLED | UNSETTLED)
    return present(run_id, f"the replayed run of {event_id}")


class Stranded(Exception):
    """The event was restarted ``max_restarts`` times without settling: now failed for good."""


async def restart(
    runs: Runs,
    engine: AsyncEngine,
    org_id: str,
    event_id: str,
    statuses: frozenset[EventStatus],
    max_restarts: int | None = None,
) -> str | None:
    """Requeue the event and start a new run of its workflow if its status (read under the
    row's lock) is one of ``statuses``; returns the run ID, or None when it is not.

    With ``max_restarts`` (the reconciler), an event already restarted that often without
    settling ends failed as ``stranded`` (replayable) instead of running again: ``Stranded``.
    Raises Conflict while a run is open, and when Temporal rejects the start for good.
    """
    async with engine.begin() as conn:
        found = await recovery.lock_for_replay(conn, org_id, event_id)
        if found is None:
            raise NotFound(f"event '{event_id}' not found")
        if found.status not in statuses:
            return None
        # Under the row lock a reversal request takes too: never a run beside a reversal.
        if await reversals.reversed_any(conn, event_id):
            raise Conflict(f"event '{event_id}' was reversed; a reversed event is not replayed")
        if max_restarts is None or found.restarts < max_restarts:
            await recovery.requeue(conn, event_id, restart=max_restarts is not None)
            return await runs.start_again(found.action)
        await recovery.fail_unsettled(conn, event_id, errors.STRANDED)
        await outcomes.announce_failed(conn, org_id, event_id, errors.STRANDED)
    raise Stranded(event_id)
