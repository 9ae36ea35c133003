"""Replaying events after a fix: only what failed or was skipped can be granted."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowExecutionStatus

from src.config import Settings
from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import (
    Faults,
    Tenant,
    run_cli,
    settings_env,
    wait_for_event,
    workflow_result,
)


async def replay(tenant: Tenant, event_id: str) -> dict:  # type: ignore[type-arg]
    return await ok(
        await tenant.http.post(f"/api/audience/internal/actions/{event_id}/replay"), 202
    )


async def test_pool_exhausted_event_replayed_after_import(tenant: Tenant, client: Client) -> None:
    await setup_guide(tenant, codes=0)
    event_id = await post_action(tenant, FLOW_ACTION)
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "failed" and event["reason"] == "pool_exhausted"
    statuses = {e["type"]: e["status"] for e in event["effects"]}
    assert statuses == {
        "add_points": "granted",
        "award_product": "granted",
        "allocate_code": "failed",
    }
    await workflow_result(client, event_id)

    await ok(
        await tenant.http.post("/v1/code-pools/pool_discounts/codes", json={"codes": ["LATE-1"]})
    )
    replayed = await replay(tenant, event_id)
    assert replayed["status"] == "queued" and replayed["workflowId"] == event_id
    assert (
        await client.get_workflow_handle(event_id, run_id=replayed["runId"]).result() == "processed"
    )
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "processed" and event["reason"] is None
    user = (await tenant.http.get("/v1/users/user_123")).json()
    assert user["balances"] == {"points": 500} and user["codes"] == ["LATE-1"]
    assert user["products"] == [{"productId": "prod_vip_badge", "quantity": 1}]

    # A processed event replays to the same result: nothing new is granted.
    again = await replay(tenant, event_id)
    await client.get_workflow_handle(event_id, run_id=again["runId"]).result()
    txns = (await tenant.http.get("/v1/transactions", params={"eventId": event_id})).json()
    assert len(txns["data"]) == 3
    assert (await tenant.http.get("/v1/users/user_123")).json()["balances"] == {"points": 500}


async def test_skipped_event_replayed_once_user_exists(tenant: Tenant, client: Client) -> None:
    await setup_guide(tenant, user="")
    event_id = await post_action(tenant, FLOW_ACTION)
    assert (await wait_for_event(tenant, event_id))["status"] == "skipped"
    await workflow_result(client, event_id)
    await ok(await tenant.http.post("/v1/users", json={"id": "user_123"}))
    run = await replay(tenant, event_id)
    await client.get_workflow_handle(event_id, run_id=run["runId"]).result()
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"
    assert (await tenant.http.get("/v1/users/user_123")).json()["balances"] == {"points": 500}


async def test_replay_refusals(tenant: Tenant) -> None:
    missing = await tenant.http.post("/api/audience/internal/actions/evt_nope/replay")
    assert missing.status_code == 404
    created = await ok(
        await tenant.http.post("/v1/api-keys", json={"name": "w", "scopes": ["actions:write"]})
    )
    writer = {"Authorization": f"Bearer {created['secret']}"}
    event_id = await post_action(tenant, {"userId": "x", "action": "a"})
    denied = await tenant.http.post(
        f"/api/audience/internal/actions/{event_id}/replay", headers=writer
    )
    assert denied.status_code == 403


async def test_cli_replays_failed_events(
    tenant: Tenant, settings: Settings, client: Client
) -> None:
    await setup_guide(tenant, codes=0)
    event_id = await post_action(tenant, FLOW_ACTION)
    assert (await wait_for_event(tenant, event_id))["status"] == "failed"
    await workflow_result(client, event_id)
    await ok(await tenant.http.post("/v1/code-pools/pool_discounts/codes", json={"codes": ["C-1"]}))
    env = settings_env(settings)
    args = ("events", "replay", "--status", "failed", "--org", tenant.org_id)
    dry = await run_cli(*args, "--action", "purchase_completed", "--dry-run", env=env)
    assert "1 failed events match" in dry and event_id in dry
    assert (await wait_for_event(tenant, event_id))["status"] == "failed"  # dry run changed nothing
    assert "replayed 1, refused 0" in await run_cli(*args, env=env)
    await asyncio.sleep(0.2)
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"
    assert (await tenant.http.get("/v1/users/user_123")).json()["codes"] == ["C-1"]


async def test_replay_right_after_the_failure_waits_for_the_closing_run(
    tenant: Tenant, client: Client, faults: Faults
) -> None:
    """The event reads failed as its last effect's transaction commits, while its run is
    still open (held here): a replay sent at that moment is accepted once the run closes."""
    await setup_guide(tenant, codes=0)
    faults.hold_failed_effects[tenant.org_id] = 3.0
    try:
        event_id = await post_action(tenant, FLOW_ACTION)
        event = await wait_for_event(tenant, event_id)
        assert event["status"] == "failed" and event["reason"] == "pool_exhausted"
        running = await client.get_workflow_handle(event_id).describe()
        assert running.status == WorkflowExecutionStatus.RUNNING
        await ok(
            await tenant.http.post("/v1/code-pools/pool_discounts/codes", json={"codes": ["C-1"]})
        )
        replayed = await replay(tenant, event_id)
    finally:
        faults.hold_failed_effects.pop(tenant.org_id)
    handle = client.get_workflow_handle(event_id, run_id=replayed["runId"])
    assert await handle.result() == "processed"
    user = (await tenant.http.get("/v1/users/user_123")).json()
    assert user["codes"] == ["C-1"] and user["balances"] == {"points": 500}
    codes = (await tenant.http.get("/v1/transactions", params={"type": "code"})).json()
    assert len(codes["data"]) == 1
