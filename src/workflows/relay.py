"""Outbox relay: starts the workflow of every accepted event. The API only commits event rows,
so acceptance neither waits on Temporal nor stops while it is down.

Fair and self-healing: each pass deals the room left in a bounded window of started, unsettled
events across orgs (``outbox.claim_fair``), so one org's backlog waits in PostgreSQL rather
than ahead of everyone in Temporal's task queue. A start that fails backs off that one event;
a rejection no retry can change (an unserialisable payload, an invalid request) fails the event
after a few attempts instead of blocking the outbox. Starting an existing workflow ID is a
no-op, so a pass interrupted between start and mark is simply repeated.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from structlog.contextvars import bound_contextvars
from temporalio.client import Client

from src import tracing
from src.domain import errors
from src.domain.actions import ActionInput
from src.metrics import RELAY_STARTS, settled
from src.services import outcomes
from src.store import outbox
from src.workflows import idling
from src.workflows.starter import is_rejection, start_action, unserialisable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Relay:
    client: Client
    engine: AsyncEngine
    task_queue: str
    window: outbox.Window
    retry: outbox.StartRetry
    idle_seconds: float
    # Set when events were accepted or one of this process settled (see ``idling``).
    wake: asyncio.Event | None = None

    async def relay_once(self, after: str | None = None) -> tuple[int, int, str | None]:
        """One pass: (started, failed to start, round-robin cursor for the next pass). Rows
        stay locked until commit, so every start is bounded by an RPC timeout."""
        async with self.engine.begin() as conn:
            claim = await outbox.claim_fair(conn, self.window, after)
            if not claim.actions:
                return 0, 0, claim.after
            outcomes = await asyncio.gather(
                *(self._start(a, claim.trace_parents.get(a.event_id)) for a in claim.actions),
                return_exceptions=True,
            )
            started = [
                a.event_id for a, o in zip(claim.actions, outcomes, strict=True) if o is None
            ]
            failed = 0
            for action, outcome in zip(claim.actions, outcomes, strict=True):
                if outcome is not None:
                    failed += 1
                    await self._failed(conn, action, outcome, bool(started))
            await outbox.mark_started(conn, started)
        RELAY_STARTS.labels("started").inc(len(started))
        if failed:
            log.warning("relay could not start %d of %d workflows yet", failed, len(outcomes))
        return len(started), failed, claim.after

    async def _start(self, action: ActionInput, trace_parent: str | None) -> None:
        with tracing.continuing(trace_parent):  # the accepting request's trace goes on
            await start_action(self.client, action, self.task_queue)

    async def _failed(
        self, conn: AsyncConnection, action: ActionInput, error: BaseException, others_started: bool
    ) -> None:
        """Back the row off; count a rejection towards failing it when it is the row's own: an
        unserialisable payload always, Temporal refusing the request only while it accepts
        others (when it refuses every start, the namespace or the deployment is at fault, and
        that passes). In a savepoint, so one row's trouble never undoes the pass."""
        event_id = action.event_id
        rejected = unserialisable(error) or (is_rejection(error) and others_started)
        RELAY_STARTS.labels("rejected" if rejected else "failed").inc()
        message = f"{type(error).__name__}: {error}"
        about = partial(bound_contextvars, eventId=event_id, workflowId=event_id)
        try:
            async with conn.begin_nested():
                if await outbox.start_failed(conn, event_id, message, rejected, self.retry):
                    settled("failed", errors.START_REJECTED)
                    await outcomes.announce_failed(
                        conn, action.org_id, event_id, errors.START_REJECTED
                    )
                    with about():
                        log.error("event %s cannot be started, failed: %s", event_id, message)
        except Exception:
            with about():
                log.exception("could not back event %s off", event_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set (a pass in progress finishes first): straight on while a
        backlog fills whole passes, at most one pass per ``idle_seconds`` while starts trickle,
        and, with a ``wake``, less and less often while nothing can be started (``idling``).
        Failed starts back off alone: a wake does not hurry them."""
        backoff, after = self.idle_seconds, None
        while not stop.is_set():
            if self.wake is not None:
                self.wake.clear()  # what happens from here on wakes the next pass
            try:
                started, failed, after = await self.relay_once(after)
            except Exception:
                log.warning("relay pass failed; retrying", exc_info=True)
                started, failed = 0, 1
            if failed and not started:
                backoff = idling.longer(backoff, 0.2)
                await idling.pause(stop, backoff)
            elif started + failed >= self.window.batch:  # a backlog and room: go straight on
                backoff = self.idle_seconds
            elif started or self.wake is None:
                backoff = self.idle_seconds
                await idling.pause(stop, backoff)
            else:
                await idling.pause(stop, backoff, self.wake, at_least=self.idle_seconds)
                backoff = idling.longer(backoff, self.idle_seconds)
