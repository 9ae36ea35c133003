"""`loyalty status`: the backlog, its age, recent outcomes and the probe's exit code."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from src.store import orgs
from src.store.db import make_engine
from src.store.tables import Event
from tests.support import run_cli


def event(org_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4()}",
        "org_id": org_id,
        "user_id": "u",
        "action": "visit",
        "occurred_at": datetime.now(UTC),
        "data": {},
        "metadata": {},
        "fingerprint": "f",
        "status": status,
        "reason": None,
        "created_at": datetime.now(UTC),
        "started_at": None,
        **fields,
    }


async def test_status_reads_backlog_age_and_outcomes(
    fresh_database: Callable[[], Awaitable[str]],
) -> None:
    url = await fresh_database()
    engine = make_engine(url, 2)
    now = datetime.now(UTC)
    started = {"started_at": now}
    async with engine.begin() as conn:
        busy = await orgs.create(conn, "busy")
        calm = await orgs.create(conn, "calm")
        await conn.execute(
            insert(Event.__table__),
            [
                event(busy, "queued", created_at=now - timedelta(minutes=10)),
                event(busy, "queued"),
                event(busy, "processing", **started),
                *[event(busy, "processed", **started) for _ in range(3)],
                event(busy, "skipped", reason="unknown_user", **started),
                event(busy, "failed", reason="pool_exhausted", **started),
                event(busy, "failed", reason="start_rejected: TypeError: nope", **started),
                event(busy, "processed", created_at=now - timedelta(hours=2), **started),
                event(calm, "queued"),
            ],
        )
    await engine.dispose()
    env = {"DATABASE_URL": url}

    one = json.loads(await run_cli("status", "--org", busy, "--json", env=env, exit_code=1))
    assert (one["backlog"], one["unstarted"], one["inFlight"]) == (3, 2, 1)
    assert 590 < one["oldestUnstartedSeconds"] < 900
    hour, day = one["windows"]["hour"], one["windows"]["day"]
    assert hour["byStatus"] == {
        "queued": 2,  # the one accepted 10 minutes ago is in the hour too
        "processing": 1,
        "processed": 3,
        "skipped": 1,
        "failed": 2,
    }
    assert hour["failures"] == {"pool_exhausted": 1, "start_rejected": 1}
    assert day["byStatus"]["processed"] == 4
    assert "busiestOrgs" not in one

    probe = await run_cli("status", "--org", calm, "--max-backlog-age", "60", env=env)
    assert "backlog 1: 1 waiting to start, 0 in Temporal" in probe

    everyone = await run_cli("status", "--max-backlog-age", "3600", env=env)
    assert f"    {busy}: 3\n    {calm}: 1" in everyone
    assert "failed by reason: pool_exhausted 1, start_rejected 1" in everyone
