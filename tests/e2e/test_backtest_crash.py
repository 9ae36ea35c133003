"""A backtest's worker dies mid-run: Temporal notices the silence within the heartbeat
timeout and another worker resumes the run from its last saved page."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from src.config import Settings
from src.store.db import make_engine
from tests.backtesting import draft, finished, stored_visits
from tests.guide import ok
from tests.support import (
    STALLING_WORKER,
    api_server,
    make_tenant,
    settings_env,
    until,
    worker_process,
)

pytestmark = pytest.mark.serial  # kills a worker; the resume waits on heartbeat timeouts


async def test_a_backtest_survives_its_worker_being_killed(
    fresh_database: Callable[[], Awaitable[str]],
    settings: Settings,
    client: Client,
    tmp_path: Path,
) -> None:
    isolated = settings.model_copy(
        update={
            "database_url": await fresh_database(),
            "task_queue": "loyalty-backtest-kill-test",
            "backtest_heartbeat_seconds": 5,
        }
    )
    engine = make_engine(isolated.require_database_url(), 4)
    flag = tmp_path / "stalled"
    start = datetime.now(UTC) - timedelta(hours=1)
    window = {"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat()}
    async with api_server(isolated) as base_url:
        tenant = await make_tenant(engine, base_url)
        campaign = await draft(tenant, {"maxPerUser": 3})
        await stored_visits(engine, tenant.org_id, start, 2500)  # three pages
        path = f"/v1/campaigns/{campaign}/backtest"
        cut = await ok(await tenant.http.post(path, json=window), 202)
        stalled = subprocess.Popen(  # noqa: ASYNC220 - a real worker process
            [*STALLING_WORKER, str(flag), "backtest"], env=settings_env(isolated)
        )
        try:

            async def stalled_after_a_page() -> bool:
                return flag.exists()

            await until(stalled_after_a_page)
        finally:
            stalled.kill()  # as a crash would: no goodbye to Temporal
            stalled.wait()
        mid = (await tenant.http.get(f"/v1/backtests/{cut['id']}")).json()
        assert mid["status"] == "running" and mid["processed"] == 1000, mid
        async with worker_process(isolated):
            resumed = await finished(tenant, cut["id"])
            whole = await finished(
                tenant, (await ok(await tenant.http.post(path, json=window), 202))["id"]
            )
        await tenant.http.aclose()
    await engine.dispose()
    assert resumed["status"] == "completed" and resumed["processed"] == 2500
    assert resumed["result"] == whole["result"]
    assert resumed["result"]["fired"] == 150
    history = await client.get_workflow_handle(cut["id"]).fetch_history()
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    (last,) = started  # a history records only the attempt that ended the activity
    assert last.attempt >= 2, "the run did not move to another attempt"
    assert "heartbeat" in str(last.last_failure).lower(), last.last_failure
