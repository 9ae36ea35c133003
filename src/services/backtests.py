"""Backtesting a campaign's current version (drafts included) over an org's stored actions.

``request`` records the backtest and starts its BacktestCampaign run; the run's activity
(``run``) pages through the actions in timestamp order, judging each with the real rules
(``domain.backtests.step``), and saves its state with every page, so a run restarted after a
crash resumes where the last save left it. Nothing but the backtest's row is written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.backtests import (
    MAX_WINDOW,
    PAGE,
    PAGE_BYTES,
    BacktestInput,
    BacktestStatus,
    BacktestView,
    Tally,
    impersonal,
    scopes,
    step,
)
from src.domain.errors import Conflict, Invalid, NotFound
from src.services.replay import Runs
from src.store import backtests, campaigns, catalog, orgs
from src.store.backtests import StoredBacktest

# Backtests an org, and all orgs together, may run at once: each holds a worker's activity slot
# for its whole run, and the slots are every org's actions' too.
MAX_RUNNING = 2
MAX_RUNNING_ALL = 4
LIVE_SECONDS = 600.0
YIELD_EVERY = 100  # judged actions between turns given to the worker's other tasks


class BacktestStarts(Protocol):
    """Starting BacktestCampaign runs (``workflows.starter.TemporalRuns``)."""

    async def start_backtest(self, backtest: BacktestInput) -> None: ...


def view(row: StoredBacktest) -> BacktestView:
    """The backtest as readers see it; its state is read only once it completed."""
    done = row.status == BacktestStatus.completed and row.state
    return BacktestView(
        id=row.id,
        campaign_id=row.campaign_id,
        campaign_version=row.campaign_version,
        window_start=row.window_start,
        window_end=row.window_end,
        status=row.status,
        processed=row.processed,
        total=row.total,
        result=Tally.model_validate(row.state).result() if done else None,
        error=row.error,
        started_at=row.started_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
    )


async def request(
    engine: AsyncEngine,
    starts: BacktestStarts,
    org_id: str,
    campaign_id: str,
    start: datetime,
    end: datetime,
    personal: bool,
) -> BacktestView:
    """Record and start a backtest; ``personal``: whether the requesting key may read users
    (else user email and phone conditions are judged on nothing)."""
    if start >= end:
        raise Invalid.field("from", "must be before 'to'")
    if end - start > MAX_WINDOW:
        raise Invalid.field("to", f"the window is at most {MAX_WINDOW.days} days")
    async with engine.begin() as conn:
        # One request at a time, service-wide, counts what runs: both caps hold under
        # concurrent starts (a rare, operator-paced request).
        await backtests.lock_requests(conn)
        if await backtests.running(conn, org_id, LIVE_SECONDS) >= MAX_RUNNING:
            raise Conflict(
                f"{MAX_RUNNING} backtests of this org are running; start another when one ends",
                code="backtests_running",
            )
        if await backtests.running(conn, None, LIVE_SECONDS) >= MAX_RUNNING_ALL:
            raise Conflict(
                "the service runs as many backtests as it takes at once; retry in a minute",
                code="backtests_busy",
            )
        found = await campaigns.current_versions(conn, org_id, [campaign_id])
        if not found:
            raise NotFound(f"campaign '{campaign_id}' not found")
        version = found[0]
        actions = sorted({rule.type for rule in version.definition.triggers})
        backtest_id = f"bt_{uuid.uuid4().hex}"
        await backtests.create(
            conn,
            {
                "id": backtest_id,
                "org_id": org_id,
                "campaign_id": campaign_id,
                "campaign_version": version.version,
                "actions": actions,
                "window_start": start,
                "window_end": end,
                "status": BacktestStatus.running,
                "personal": personal,
                "total": await backtests.count(conn, org_id, actions, start, end),
            },
        )
    try:
        await starts.start_backtest(BacktestInput(backtest_id=backtest_id, org_id=org_id))
    except Exception as exc:
        await fail(engine, backtest_id, f"not started: {type(exc).__name__}")
        raise
    return await get(engine, org_id, backtest_id)


async def get(engine: AsyncEngine, org_id: str, backtest_id: str) -> BacktestView:
    async with engine.connect() as conn:
        row = await backtests.get(conn, org_id, backtest_id)
    if row is None:
        raise NotFound(f"backtest '{backtest_id}' not found")
    return view(row)


async def run(
    engine: AsyncEngine, backtest: BacktestInput, beat: Callable[[int], Awaitable[None]]
) -> dict[str, Any]:
    """Judge the window's actions page by page, saving the state after each, and finish;
    ``beat`` is told the count processed after every page (the activity's heartbeat)."""
    async with engine.connect() as conn:
        row = await backtests.get(conn, backtest.org_id, backtest.backtest_id)
        if row is None:
            raise NotFound(f"backtest '{backtest.backtest_id}' not found")
        tally = Tally.model_validate(row.state) if row.state else Tally()
        if row.status != BacktestStatus.running:
            return tally.result()
        (version,) = await campaigns.versions_for(
            conn, backtest.org_id, [(row.campaign_id, row.campaign_version)]
        )
        settings = await orgs.get_settings(conn, backtest.org_id)
    if row.state and "users" in row.state:
        await _adopt(engine, backtest.backtest_id, row.state["users"], tally)
    while True:
        async with engine.connect() as conn:
            stored, last = await backtests.page(
                conn,
                backtest.org_id,
                row.actions,
                row.window_start,
                row.window_end,
                tally.after,
                PAGE,
                PAGE_BYTES,
            )
            if not row.personal:
                stored = [impersonal(action) for action in stored]
            users = {str(a.user["id"]) for a in stored if a.user is not None}
            rewarded = await backtests.known_users(conn, backtest.backtest_id, users)
            tally.counters = await backtests.counters(
                conn, backtest.backtest_id, scopes(version, stored, settings.zone)
            )
        loaded, seen = dict(tally.counters), set(rewarded)
        for n, action in enumerate(stored, 1):
            step(tally, action, version, settings.zone, settings.max_event_age, seen)
            if n % YIELD_EVERY == 0:  # judging is CPU work on the loop other activities share
                await asyncio.sleep(0)
        changed = {s: v for s, v in tally.counters.items() if loaded.get(s) != v}
        async with engine.begin() as conn:
            if last:
                for pool in tally.codes:
                    found = await catalog.get_pool(conn, backtest.org_id, pool)
                    tally.available[pool] = found.available if found else 0
            await backtests.add_users(conn, backtest.backtest_id, seen - rewarded)
            await backtests.save_counters(conn, backtest.backtest_id, changed)
            await backtests.save(
                conn, backtest.backtest_id, tally.processed, tally.model_dump(mode="json")
            )
            if last:
                await backtests.finish(conn, backtest.backtest_id, BacktestStatus.completed)
        await beat(tally.processed)
        if last:
            return tally.result()


async def _adopt(engine: AsyncEngine, backtest_id: str, users: list[str], tally: Tally) -> None:
    """A state saved before 0.6.0 held its users and counters: they become rows, once."""
    tally.distinct_users = len(users)
    async with engine.begin() as conn:
        await backtests.add_users(conn, backtest_id, set(users))
        await backtests.save_counters(conn, backtest_id, tally.counters)
        await backtests.save(conn, backtest_id, tally.processed, tally.model_dump(mode="json"))


async def abandoned(runs: Runs, engine: AsyncEngine, older_than: float, limit: int) -> int:
    """End ``failed`` the running backtests whose run is gone (terminated, timed out, failed
    past its attempts, or never found) and whose row was not saved for ``older_than``
    seconds; a run still open is left alone. Returns how many."""
    async with engine.connect() as conn:
        stale = await backtests.stale(conn, older_than, limit)
    ended = 0
    for backtest_id in stale:
        if not await runs.running(backtest_id):
            await fail(engine, backtest_id, "its run ended without finishing")
            ended += 1
    return ended


async def fail(engine: AsyncEngine, backtest_id: str, error: str) -> None:
    async with engine.begin() as conn:
        await backtests.finish(conn, backtest_id, BacktestStatus.failed, error)
