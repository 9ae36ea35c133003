"""Reconciler: every accepted event reaches a final status by itself.

Unstarted events are the relay's. This sweep looks only at events the relay started that are
still unsettled a while later, asks Temporal about each, and acts only on a definite answer:
no such workflow (its history was lost), or its last run closed (terminated, cancelled, timed
out, failed) without settling the event. Those it starts again: a new run of the same workflow
ID over the same stored plan and keys, so nothing is granted twice. It never terminates a run,
and on any other answer (Temporal unreachable, slow) it leaves the event for the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain import errors
from src.domain.errors import Conflict, NotFound
from src.domain.reversals import ReversalInput
from src.metrics import settled
from src.services import backtests
from src.services.replay import UNSETTLED, Stranded, restart
from src.store import recovery, reversals
from src.workflows.starter import TemporalRuns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciler:
    runs: TemporalRuns
    engine: AsyncEngine
    after_seconds: float  # how long a started event may stay unsettled before a look
    every_seconds: float
    max_restarts: int = 5
    batch: int = 100
    concurrency: int = 10

    async def reconcile_once(self) -> int:
        """One sweep; returns how many events were started again."""
        async with self.engine.begin() as conn:
            stale = await recovery.stale_in_flight(conn, self.after_seconds, self.batch)
        gate = asyncio.Semaphore(self.concurrency)  # each restart holds a pooled connection

        async def settle(org_id: str, event_id: str) -> bool:
            async with gate:
                return await self._settle(org_id, event_id)

        outcomes = await asyncio.gather(
            *(settle(org_id, event_id) for org_id, event_id in stale), return_exceptions=True
        )
        for (_, event_id), outcome in zip(stale, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning("reconciler left %s for later: %r", event_id, outcome)
        return sum(1 for outcome in outcomes if outcome is True)

    async def _settle(self, org_id: str, event_id: str) -> bool:
        if await self.runs.running(event_id):
            return False
        try:
            run = await restart(
                self.runs, self.engine, org_id, event_id, UNSETTLED, self.max_restarts
            )
        except Stranded:
            settled("failed", errors.STRANDED)
            return False
        except (Conflict, NotFound):  # a run started meanwhile (a replay), or the event is gone
            return False
        if run is not None:
            log.warning("event %s had no live run and was unsettled: started again", event_id)
        return run is not None

    async def start_queued_reversals(self) -> int:
        """Start reversals still queued a while after their request (their start failed, or
        their run ended without applying them); a start that fails waits for the next pass."""
        async with self.engine.connect() as conn:
            queued = await reversals.queued_before(conn, self.after_seconds, self.batch)
        started = 0
        for reversal_id, org_id, event_id in queued:
            reversal = ReversalInput(reversal_id=reversal_id, org_id=org_id, event_id=event_id)
            try:
                await self.runs.start_reversal(reversal)
                started += 1
            except Exception as exc:
                log.warning("reversal %s not started yet: %s", reversal_id, type(exc).__name__)
        return started

    async def end_abandoned_backtests(self) -> int:
        """A backtest whose run is gone (terminated, or failed past its attempts) ends
        ``failed``, so it neither shows ``running`` nor holds a place under the caps."""
        return await backtests.abandoned(self.runs, self.engine, self.after_seconds, self.batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every ``every_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.reconcile_once()
                await self.start_queued_reversals()
                await self.end_abandoned_backtests()
            except Exception:
                log.warning("reconciler pass failed; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_seconds)
