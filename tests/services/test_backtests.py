"""Backtests: a draft campaign judged over stored actions with the real rules, limits
simulated in timestamp order, nothing granted; a run cut off mid-way resumes where it saved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.domain.backtests import BacktestInput
from src.services import backtests
from src.store import backtests as store
from src.store import keys
from src.store.tables import (
    Backtest,
    Balance,
    CampaignCounter,
    LedgerEntry,
    LimitReservation,
)
from tests.backtesting import draft, finished, stored_visits
from tests.guide import ok, post_action
from tests.support import Tenant, run_cli, settings_env, wait_for_event


async def written(engine: AsyncEngine, org_id: str) -> list[int]:
    """Rows a grant or a limit would write, for the org."""
    async with engine.connect() as conn:
        return [
            int(await conn.scalar(select(func.count()).where(table.org_id == org_id)) or 0)
            for table in (LedgerEntry, Balance, CampaignCounter, LimitReservation)
        ]


async def test_a_draft_is_judged_over_stored_actions_granting_nothing(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    await ok(await tenant.http.post("/v1/code-pools", json={"id": "welcome", "name": "W"}))
    await ok(await tenant.http.post("/v1/code-pools/welcome/codes", json={"codes": ["A", "B"]}))
    for user in ("u1", "u2"):
        await ok(await tenant.http.post("/v1/users", json={"id": user}))
    visits = ["u1", "u1", "u1", "u2", "ghost"]  # ghost is no user: matched, never rewarded
    for user in visits:
        await wait_for_event(tenant, await post_action(tenant, {"userId": user, "action": "visit"}))
    campaign = await draft(tenant, {"maxPerUser": 2})
    before = await written(engine, tenant.org_id)
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}
    started = await ok(
        await tenant.http.post(f"/v1/campaigns/{campaign}/backtest", json=window), 202
    )
    assert started["status"] == "running" and started["total"] == len(visits)
    done = await finished(tenant, started["id"])
    assert done["status"] == "completed" and done["processed"] == len(visits)
    assert done["etaSeconds"] == 0
    result = done["result"]
    assert result["matched"] == 5 and result["unknownUsers"] == 1
    assert result["fired"] == 3 and result["distinctUsers"] == 2  # u1 twice (limit), u2 once
    assert result["refusals"] == {"maxPerUser": 1}
    assert result["points"] == {"points": 30}
    assert result["codes"] == {"welcome": {"needed": 3, "available": 2}}
    (day,) = result["days"].values()
    assert day["matched"] == 5 and day["fired"] == 3
    assert await written(engine, tenant.org_id) == before  # nothing granted, counted, reserved


async def test_backtest_windows_are_checked(tenant: Tenant) -> None:
    campaign = await draft(tenant)
    now = datetime.now(UTC)
    for start, end in (
        (now.isoformat(), (now - timedelta(days=1)).isoformat()),
        ((now - timedelta(days=400)).isoformat(), now.isoformat()),
        ("2025-07-01T00:00:00", now.isoformat()),  # no time zone
        ("0001-01-01T00:00:00+01:00", "0001-01-02T00:00:00+01:00"),
    ):
        reply = await tenant.http.post(
            f"/v1/campaigns/{campaign}/backtest", json={"from": start, "to": end}
        )
        assert reply.status_code == 422, (start, end)
    missing = await tenant.http.post(
        "/v1/campaigns/nope/backtest", json={"from": now.isoformat(), "to": now.isoformat()}
    )
    assert missing.status_code in (404, 422)
    assert (await tenant.http.get("/v1/backtests/bt_nope")).status_code == 404


class Crash(Exception):
    pass


async def test_a_run_cut_off_mid_way_resumes_where_it_saved(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """2,500 stored actions (three pages): the first run dies after its first page is saved;
    the next resumes there and ends with the result of a run that was never cut off."""
    campaign = await draft(tenant, {"maxPerUser": 3})
    start = datetime.now(UTC) - timedelta(hours=1)
    await stored_visits(engine, tenant.org_id, start, 2500)

    async def new(backtest_id: str) -> BacktestInput:
        async with engine.begin() as conn:
            await store.create(
                conn,
                {
                    "id": backtest_id,
                    "org_id": tenant.org_id,
                    "campaign_id": campaign,
                    "campaign_version": 1,
                    "actions": ["visit"],
                    "window_start": start,
                    "window_end": start + timedelta(hours=1),
                    "status": "running",
                    "total": 2500,
                },
            )
        return BacktestInput(backtest_id=backtest_id, org_id=tenant.org_id)

    async def crash(processed: int) -> None:
        raise Crash(processed)

    beats: list[int] = []

    async def beat(processed: int) -> None:
        beats.append(processed)

    cut = await new(f"bt_cut_{tenant.org_id[:8]}")
    with pytest.raises(Crash):
        await backtests.run(engine, cut, crash)
    saved = await backtests.get(engine, tenant.org_id, cut.backtest_id)
    assert saved.status == "running" and saved.processed == 1000
    resumed = await backtests.run(engine, cut, beat)
    assert beats == [2000, 2500]  # the first page was not read again
    whole = await backtests.run(engine, await new(f"bt_whole_{tenant.org_id[:8]}"), beat)
    assert resumed == whole
    assert whole["fired"] == 150 and whole["refusals"] == {"maxPerUser": 2350}


async def test_the_cli_follows_a_backtest_to_its_result(tenant: Tenant, settings: Settings) -> None:
    await ok(await tenant.http.post("/v1/users", json={"id": "u1"}))
    await wait_for_event(tenant, await post_action(tenant, {"userId": "u1", "action": "visit"}))
    campaign = await draft(tenant)
    now = datetime.now(UTC)
    shown = await run_cli(
        "campaigns",
        "backtest",
        campaign,
        "--org",
        tenant.org_id,
        "--from",
        (now - timedelta(hours=1)).isoformat(),
        "--to",
        (now + timedelta(minutes=1)).isoformat(),
        env=settings_env(settings),
    )
    assert "1 stored actions" in shown
    result = json.loads(shown[shown.index("{") :])
    assert result["fired"] == 1 and result["points"] == {"points": "10"}


async def test_an_org_runs_two_backtests_at_a_time(tenant: Tenant, engine: AsyncEngine) -> None:
    """Each run holds a worker slot for its whole length: a third waits for one to end, and
    a run that stopped saving (its workflow terminated) stops counting."""
    campaign = await draft(tenant)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for i in range(2):
            await store.create(
                conn,
                {
                    "id": f"bt_busy_{i}_{tenant.org_id[:8]}",
                    "org_id": tenant.org_id,
                    "campaign_id": campaign,
                    "campaign_version": 1,
                    "actions": ["visit"],
                    "window_start": now - timedelta(days=1),
                    "window_end": now,
                    "status": "running",
                    "total": 0,
                },
            )
    window = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}
    third = await tenant.http.post(f"/v1/campaigns/{campaign}/backtest", json=window)
    assert third.status_code == 409 and third.json()["error"]["code"] == "backtests_running"
    async with engine.begin() as conn:
        await conn.execute(
            update(Backtest)
            .where(Backtest.org_id == tenant.org_id)
            .values(updated_at=now - timedelta(hours=1))
        )
    await ok(await tenant.http.post(f"/v1/campaigns/{campaign}/backtest", json=window), 202)


async def test_a_backtest_sees_no_email_or_phone_without_users_read(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """As a simulation: a key that may not read users cannot learn, condition by condition,
    which users' emails match."""
    await ok(await tenant.http.post("/v1/users", json={"id": "u-mail", "email": "a@shop.test"}))
    await wait_for_event(tenant, await post_action(tenant, {"userId": "u-mail", "action": "visit"}))
    campaign = await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "shop staff",
                "status": "draft",
                "triggers": [
                    {
                        "type": "visit",
                        "conditions": [
                            {"field": "user.email", "operator": "ends_with", "value": "@shop.test"}
                        ],
                    }
                ],
                "effects": [{"type": "add_points", "config": {"amount": 1}}],
            },
        )
    )
    async with engine.begin() as conn:
        _, secret = await keys.create(conn, tenant.org_id, "marketing", ["campaigns:write"])
    narrow = {"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": tenant.org_id}
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}
    url = f"/v1/campaigns/{campaign['id']}/backtest"
    matched = []
    for auth in (narrow, tenant.headers):
        started = await ok(await tenant.http.post(url, json=window, headers=auth), 202)
        matched.append((await finished(tenant, started["id"]))["result"]["matched"])
    assert matched == [0, 1]
