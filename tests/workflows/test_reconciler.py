"""Every accepted event reaches a final status by itself: a run terminated before it planned,
a Temporal whose data was wiped, a plan that keeps failing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus

from src.cli.devstack import temporal_dev_server
from src.config import Settings
from src.store.db import make_engine
from src.store.tables import Event, LedgerEntry
from src.worker import build_reconciler, build_relay
from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import (
    Faults,
    Tenant,
    api_server,
    free_port,
    ledger_consistent,
    make_tenant,
    until,
    wait_for_event,
    wait_for_events,
    worker_and_relay,
    workflow_result,
)


@contextlib.asynccontextmanager
async def relay_only(
    client: Client, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[None]:
    """The relay starts workflows, but no worker polls their queue: runs stay unplanned."""
    stop = asyncio.Event()
    task = asyncio.create_task(build_relay(client, engine, settings).run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def started(engine: AsyncEngine, event_ids: list[str]) -> bool:
    async with engine.connect() as conn:
        waiting = await conn.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.id.in_(event_ids), Event.started_at.is_(None))
        )
    return not waiting


async def grants(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


async def at_least(engine: AsyncEngine, count: int) -> bool:
    return await grants(engine) >= count


async def test_run_terminated_before_planning_is_started_again(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings, client: Client
) -> None:
    isolated = settings.model_copy(
        update={
            "database_url": await fresh_database(),
            "task_queue": "loyalty-terminated-test",
            "reconcile_after_seconds": 0.2,
        }
    )
    engine = make_engine(isolated.require_database_url(), 4)
    async with api_server(isolated) as base_url:
        tenant = await make_tenant(engine, base_url)
        await setup_guide(tenant)
        event_id = await post_action(tenant, FLOW_ACTION)
        async with relay_only(client, engine, isolated):
            await until(lambda: started(engine, [event_id]))
        handle = client.get_workflow_handle(event_id)
        await handle.terminate(reason="test: an operator ended the run")
        described = await tenant.http.get(f"/api/audience/internal/actions/{event_id}")
        assert described.json()["status"] == "queued"  # stranded: no run will settle it
        reconciler = build_reconciler(client, engine, isolated)
        await asyncio.sleep(0.3)
        assert await reconciler.reconcile_once() == 1
        assert await reconciler.reconcile_once() == 0  # the new run is running: left alone
        async with worker_and_relay(client, engine, isolated):
            event = await wait_for_event(tenant, event_id)
        await tenant.http.aclose()
    assert event["status"] == "processed"
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{event_id}'")]
    assert sorted(r.status for r in runs) == sorted(
        [WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.COMPLETED]
    )
    assert await grants(engine) == 3
    await ledger_consistent(engine, tenant.org_id)
    await engine.dispose()


@pytest.mark.serial  # restarts Temporal on the same port, which a parallel test may take
async def test_temporal_data_wiped_under_unfinished_events(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings, tmp_path: Path
) -> None:
    """Temporal's data is lost while PostgreSQL keeps 200 unfinished events, some planned and
    part-granted: the reconciler starts them all again, and the ledger is exact."""
    port = free_port()
    history = tmp_path / "temporal.db"
    isolated = settings.model_copy(
        update={
            "database_url": await fresh_database(),
            "temporal_address": f"127.0.0.1:{port}",
            "task_queue": "loyalty-wipe-test",
            "reconcile_after_seconds": 0.5,
            "reconcile_every_seconds": 0.5,
        }
    )
    engine = make_engine(isolated.require_database_url(), 10)
    first = await temporal_dev_server(
        db_file=history, port=port, payload_keys=isolated.payload_keys
    )
    async with api_server(isolated) as base_url:
        tenant = await make_tenant(engine, base_url)
        await setup_guide(tenant, codes=250)
        await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
        ids = list(
            await asyncio.gather(
                *[post_action(tenant, {**FLOW_ACTION, "userId": f"w{i % 20}"}) for i in range(200)]
            )
        )
        async with worker_and_relay(first.client, engine, isolated):
            await until(lambda: at_least(engine, 60))
        await first.shutdown()
        history.unlink()
        async with engine.connect() as conn:
            unfinished = await conn.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.status.in_(["queued", "processing"]))
            )
        assert unfinished and unfinished >= 100, unfinished
        second = await temporal_dev_server(
            db_file=history, port=port, payload_keys=isolated.payload_keys
        )
        try:
            async with worker_and_relay(second.client, engine, isolated):
                done = await wait_for_events(engine, ids, within=180)
        finally:
            await second.shutdown()
            await tenant.http.aclose()
    assert set(done.values()) == {"processed"}
    assert await grants(engine) == 600
    await ledger_consistent(engine, tenant.org_id)
    await engine.dispose()


async def test_plan_that_keeps_failing_ends_failed_and_replays(
    tenant: Tenant, faults: Faults, client: Client
) -> None:
    """A plan failing for a reason other than an outage gives up after its attempts: the event
    ends failed (``plan_error``), and a replay after the fix processes it."""
    await setup_guide(tenant)
    faults.fail_plans.add(tenant.org_id)
    try:
        event_id = await post_action(tenant, FLOW_ACTION)
        assert await workflow_result(client, event_id) == "failed"
        event = await wait_for_event(tenant, event_id)
    finally:
        faults.fail_plans.discard(tenant.org_id)
    assert event["status"] == "failed" and event["reason"] == "plan_error"
    replayed = await ok(
        await tenant.http.post(f"/api/audience/internal/actions/{event_id}/replay"), 202
    )
    handle = client.get_workflow_handle(event_id, run_id=replayed["runId"])
    assert await handle.result() == "processed"
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "processed"
    assert [e["status"] for e in event["effects"]] == ["granted"] * 3
