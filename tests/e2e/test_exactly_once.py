"""Exactly-once under the faults that break naive implementations."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from src.config import Settings
from src.store.db import make_engine
from src.store.tables import LedgerEntry
from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import (
    STALLING_WORKER,
    WORKER,
    Faults,
    Tenant,
    api_server,
    ledger_consistent,
    make_tenant,
    settings_env,
    until,
    wait_for_event,
    wait_for_events,
    worker_process,
    workflow_result,
)


async def test_same_key_posted_20_times_concurrently(
    tenant: Tenant, client: Client, engine: AsyncEngine
) -> None:
    await setup_guide(tenant)
    replies = await asyncio.gather(
        *[
            tenant.http.post(
                "/api/audience/internal/actions",
                json=FLOW_ACTION,
                headers={"Idempotency-Key": "order-1"},
            )
            for _ in range(20)
        ]
    )
    assert {r.status_code for r in replies} == {202}
    event_ids = {r.json()["eventId"] for r in replies}
    assert len(event_ids) == 1
    event_id = event_ids.pop()
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "processed"

    runs = [w async for w in client.list_workflows(f"WorkflowId = '{event_id}'")]
    assert len(runs) == 1
    txns = (await tenant.http.get("/v1/transactions", params={"userId": "user_123"})).json()
    assert sorted(t["type"] for t in txns["data"]) == ["code", "points", "product"]

    # The key maps to the same event forever; a different body under it is refused.
    again = await post_action(tenant, FLOW_ACTION, key="order-1")
    assert again == event_id
    clash = await tenant.http.post(
        "/api/audience/internal/actions",
        json={**FLOW_ACTION, "data": {"amount": 1}},
        headers={"Idempotency-Key": "order-1"},
    )
    assert clash.status_code == 409
    assert "different body" in clash.json()["error"]["message"]
    body_key = await post_action(tenant, {**FLOW_ACTION, "idempotencyKey": "order-1"})
    assert body_key == event_id
    await ledger_consistent(engine, tenant.org_id)


async def test_effect_fails_after_commit_is_granted_once(
    tenant: Tenant, faults: Faults, engine: AsyncEngine, client: Client
) -> None:
    await setup_guide(tenant)
    faults.fail_after_commit.add(tenant.org_id)
    try:
        event_id = await post_action(tenant, FLOW_ACTION)
        # The event settles at the last commit; the workflow ends after that effect's retry.
        assert await workflow_result(client, event_id) == "processed"
        event = await wait_for_event(tenant, event_id)
    finally:
        faults.fail_after_commit.discard(tenant.org_id)
    assert event["status"] == "processed"
    for effect in event["effects"]:
        assert faults.attempts[effect["key"]] == 2  # committed, failed, retried
    user = (await tenant.http.get("/v1/users/user_123")).json()
    assert user["balances"] == {"points": 500}
    assert user["products"] == [{"productId": "prod_vip_badge", "quantity": 1}]
    assert len(user["codes"]) == 1
    await ledger_consistent(engine, tenant.org_id)


async def test_reset_workflow_does_not_grant_again(
    tenant: Tenant, client: Client, engine: AsyncEngine
) -> None:
    await setup_guide(tenant)
    event_id = await post_action(tenant, FLOW_ACTION)
    await wait_for_event(tenant, event_id)
    handle = client.get_workflow_handle(event_id)
    first_run = (await handle.describe()).run_id
    # To its first workflow task, as `temporal workflow reset --type FirstWorkflowTask` does.
    first_task = next(
        e.event_id
        for e in (await handle.fetch_history()).events
        if e.HasField("workflow_task_completed_event_attributes")
    )
    reset = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=event_id, run_id=first_run),
            reason="test: replay a completed action",
            workflow_task_finish_event_id=first_task,
            request_id=f"reset-{event_id}",
        )
    )
    assert reset.run_id != first_run
    new_run = client.get_workflow_handle(event_id, run_id=reset.run_id)
    assert await new_run.result() == "processed"
    history = await new_run.fetch_history()
    completed = [
        e
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    assert len(completed) == 4  # the new run really re-ran plan + 3 effects
    user = (await tenant.http.get("/v1/users/user_123")).json()
    assert user["balances"] == {"points": 500} and len(user["codes"]) == 1
    txns = (await tenant.http.get("/v1/transactions", params={"eventId": event_id})).json()
    assert len(txns["data"]) == 3
    await ledger_consistent(engine, tenant.org_id)


async def test_fifty_concurrent_events_against_fifty_codes(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/code-pools", json={"id": "p50", "name": "fifty"}))
    await ok(
        await tenant.http.post(
            "/v1/code-pools/p50/codes", json={"codes": [f"C{i:03d}" for i in range(50)]}
        )
    )
    await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "code per visit",
                "triggers": [{"type": "store_visit"}],
                "effects": [{"type": "allocate_code", "config": {"poolId": "p50"}}],
            },
        )
    )
    ids = await asyncio.gather(
        *[post_action(tenant, {"userId": f"u{i}", "action": "store_visit"}) for i in range(50)]
    )
    done = await asyncio.gather(*[wait_for_event(tenant, i) for i in ids])
    assert [e["status"] for e in done] == ["processed"] * 50
    codes = (
        await tenant.http.get("/v1/transactions", params={"type": "code", "limit": 200})
    ).json()
    assert len({t["code"] for t in codes["data"]}) == 50

    last = await wait_for_event(
        tenant, await post_action(tenant, {"userId": "u51", "action": "store_visit"})
    )
    assert last["status"] == "failed" and last["reason"] == "pool_exhausted"
    assert last["effects"][0]["status"] == "failed"
    pool = (await tenant.http.get("/v1/code-pools/p50")).json()
    assert pool["available"] == 0 and pool["allocated"] == 50


@pytest.mark.serial  # kills a worker mid-load
async def test_worker_killed_mid_run(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings
) -> None:
    """A worker process is SIGKILLed while processing; a new one finishes every event."""
    isolated = settings.model_copy(
        update={"database_url": await fresh_database(), "task_queue": "loyalty-kill-test"}
    )
    engine = make_engine(isolated.require_database_url(), 4)
    env = settings_env(isolated)

    async def granted() -> int:
        async with engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(LedgerEntry))
        return int(count or 0)

    async with api_server(isolated) as base_url:
        tenant = await make_tenant(engine, base_url)
        await setup_guide(tenant, codes=200)
        await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
        ids = [
            await post_action(tenant, {**FLOW_ACTION, "userId": f"k{i % 10}"}) for i in range(120)
        ]
        first = subprocess.Popen(WORKER, env=env)  # noqa: ASYNC220 - a real worker process
        try:
            while await granted() < 30:
                assert first.poll() is None, "worker exited early"
                await asyncio.sleep(0.02)
            first.send_signal(signal.SIGKILL)
            first.wait()
            assert await granted() < 360, "the worker finished before it could be killed"
        finally:
            if first.poll() is None:
                first.kill()
        second = subprocess.Popen(WORKER, env=env)  # noqa: ASYNC220
        try:
            finished = await wait_for_events(engine, ids)
        finally:
            second.terminate()
            second.wait(timeout=30)
            await tenant.http.aclose()
    assert set(finished.values()) == {"processed"}
    assert await granted() == 360
    await ledger_consistent(engine, tenant.org_id)
    async with engine.connect() as conn:
        total = await conn.scalar(
            text("SELECT sum(balance) FROM balances WHERE org_id = :org"), {"org": tenant.org_id}
        )
    await engine.dispose()
    assert total == Decimal(500 * 120)


@pytest.mark.serial  # kills a worker
async def test_worker_killed_inside_a_workflow_task(
    fresh_database: Callable[[], Awaitable[str]],
    settings: Settings,
    client: Client,
    tmp_path: Path,
) -> None:
    """SIGKILL inside the workflow task that runs an action's local activities, its first
    effect committed and nothing yet recorded in Temporal. Once the task times out, another
    worker runs it again: the stored plan, the committed effect found by its key, the rest
    granted; every reward exactly once."""
    isolated = settings.model_copy(
        update={"database_url": await fresh_database(), "task_queue": "loyalty-task-kill-test"}
    )
    engine = make_engine(isolated.require_database_url(), 4)
    flag = tmp_path / "stalled"
    async with api_server(isolated) as base_url:
        tenant = await make_tenant(engine, base_url)
        await setup_guide(tenant)
        event_id = await post_action(tenant, FLOW_ACTION)
        stalled = subprocess.Popen(  # noqa: ASYNC220 - a real worker process
            [*STALLING_WORKER, str(flag)], env=settings_env(isolated)
        )
        try:
            await until(_exists(flag))
            before = await client.get_workflow_handle(event_id).fetch_history()
        finally:
            stalled.kill()
            stalled.wait()
        async with worker_process(isolated):
            finished = await wait_for_events(engine, [event_id], within=90)
        await tenant.http.aclose()
    kinds = [e.WhichOneof("attributes") for e in before.events]
    assert "workflow_task_started_event_attributes" in kinds, kinds
    assert "workflow_task_completed_event_attributes" not in kinds, kinds  # killed mid-task
    assert "marker_recorded_event_attributes" not in kinds, kinds
    assert finished == {event_id: "processed"}
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(LedgerEntry.type, func.count())
                .where(LedgerEntry.event_id == event_id)
                .group_by(LedgerEntry.type)
            )
        ).all()
    await ledger_consistent(engine, tenant.org_id)
    await engine.dispose()
    assert dict(rows) == {"points": 1, "product": 1, "code": 1}
    after = await client.get_workflow_handle(event_id).fetch_history()
    timed_out = [e for e in after.events if e.HasField("workflow_task_timed_out_event_attributes")]
    assert timed_out, "the killed worker's task was not the one that timed out"


def _exists(path: Path) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return path.exists()

    return check


@pytest.mark.serial  # no timeout may pass under load
async def test_worker_sigterm_under_load_hands_over_cleanly(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings, client: Client
) -> None:
    """SIGTERM stops a worker gracefully mid-load: its relay claims nothing more, its
    activities in flight finish, and a new worker takes over at once: nothing lost, nothing
    twice, and no activity or workflow task waits for a timeout."""
    isolated = settings.model_copy(
        update={"database_url": await fresh_database(), "task_queue": "loyalty-sigterm-test"}
    )
    engine = make_engine(isolated.require_database_url(), 4)

    async def granted() -> int:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(LedgerEntry)) or 0)

    async def busy() -> bool:
        return await granted() >= 30

    async with api_server(isolated) as base_url:
        tenant = await make_tenant(engine, base_url)
        await setup_guide(tenant, codes=200)
        await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
        ids = [
            await post_action(tenant, {**FLOW_ACTION, "userId": f"t{i % 10}"}) for i in range(120)
        ]
        async with worker_process(isolated) as first:
            await until(busy)
            first.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(first.wait(), 45) == 0
        assert await granted() < 360, "the worker finished before it was stopped"
        async with worker_process(isolated):
            finished = await wait_for_events(engine, ids)
        await tenant.http.aclose()
    assert set(finished.values()) == {"processed"}
    assert await granted() == 360
    await ledger_consistent(engine, tenant.org_id)
    await engine.dispose()
    # No activity waited for a timeout, or ran twice: every local activity completed at its
    # first attempt. (A workflow task the server handed to the stopping worker in the very
    # moment it stopped polling may still wait for its timeout: a Temporal limitation.)
    steps = 0
    for event_id in ids:
        history = await client.get_workflow_handle(event_id).fetch_history()
        for event in history.events:
            marker = event.marker_recorded_event_attributes
            if event.HasField("marker_recorded_event_attributes") and "data" in marker.details:
                data = json.loads(marker.details["data"].payloads[0].data)
                assert data["attempt"] == 1, (event_id, data)
                steps += 1
    assert steps == 120 * 4  # a plan and three effects each
