"""Accepted means durable: Temporal being down stops nothing but processing, and loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from src.cli.devstack import temporal_dev_server
from src.config import Settings
from src.store.db import make_engine
from src.store.tables import Event, LedgerEntry
from src.worker import build_relay
from src.workflows.client import connect
from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import (
    api_server,
    free_port,
    ledger_consistent,
    make_tenant,
    wait_for_events,
    worker_and_relay,
)

QUEUE = "loyalty-outage-test"


@pytest.mark.serial  # restarts Temporal on the same port, which a parallel test may take
async def test_temporal_outage(
    fresh_database: Callable[[], Awaitable[str]], settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    history = tmp_path / "temporal.db"
    isolated = settings.model_copy(
        update={
            "database_url": await fresh_database(),
            "temporal_address": f"127.0.0.1:{port}",
            "task_queue": QUEUE,
        }
    )
    engine = make_engine(isolated.require_database_url(), 10)
    first = await temporal_dev_server(
        db_file=history, port=port, payload_keys=isolated.payload_keys
    )
    async with api_server(isolated) as base_url:
        tenant = await make_tenant(engine, base_url)
        campaign = await setup_guide(tenant, codes=250)
        await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
        await first.shutdown()  # Temporal is down from here on

        ready = await tenant.http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "ok"
        # What needs Temporal at once says so, in words of its own (none of Temporal's).
        asked = await tenant.http.post(
            f"/v1/campaigns/{campaign['id']}/backtest",
            json={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
        )
        assert asked.status_code == 503 and asked.headers["retry-after"] == "1"
        assert asked.json()["error"]["code"] == "temporal_unavailable"
        assert "127.0.0.1" not in asked.text and "rpc" not in asked.text.lower()
        # A relay keeps trying (and backing off) while Temporal is away.
        lazy = await connect(isolated, lazy=True)
        stop = asyncio.Event()
        waiting = asyncio.create_task(build_relay(lazy, engine, isolated).run(stop))
        ids: list[str] = []
        for chunk in range(4):
            ids += await asyncio.gather(
                *[
                    post_action(tenant, {**FLOW_ACTION, "userId": f"o{(chunk * 50 + i) % 25}"})
                    for i in range(50)
                ]
            )
        assert len(set(ids)) == 200
        async with engine.connect() as conn:
            unstarted = await conn.scalar(
                select(func.count()).select_from(Event).where(Event.started_at.is_(None))
            )
        assert unstarted == 200

        second = await temporal_dev_server(
            db_file=history, port=port, payload_keys=isolated.payload_keys
        )
        try:
            async with worker_and_relay(second.client, engine, isolated):
                done = await wait_for_events(engine, ids)
        finally:
            stop.set()
            await waiting
            await second.shutdown()
            await tenant.http.aclose()
    assert set(done.values()) == {"processed"}
    async with engine.connect() as conn:
        grants = await conn.scalar(select(func.count()).select_from(LedgerEntry))
    assert grants == 600
    await ledger_consistent(engine, tenant.org_id)
    await engine.dispose()
