"""Backtests: a draft campaign judged over stored actions with the real rules, limits
simulated in timestamp order, nothing granted; a run cut off mid-way resumes where it saved."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from src.config import Settings
from src.domain.backtests import BacktestInput
from src.domain.campaigns import CampaignDefinition
from src.domain.errors import Conflict
from src.services import backtests
from src.store import backtests as store
from src.store import campaigns as campaign_store
from src.store import keys
from src.store.tables import (
    Backtest,
    Balance,
    CampaignCounter,
    Event,
    LedgerEntry,
    LimitReservation,
)
from src.workflows.backtest_campaign import BacktestCampaign
from src.workflows.starter import TemporalRuns
from tests.backtesting import backtest_row, draft, finished, stored_visits
from tests.guide import ok, post_action
from tests.support import Tenant, make_tenant, run_cli, settings_env, wait_for_event


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
                backtest_row(
                    tenant.org_id, campaign, backtest_id, start, start + timedelta(hours=1), 2500
                ),
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
            busy = f"bt_busy_{i}_{tenant.org_id[:8]}"
            await store.create(
                conn, backtest_row(tenant.org_id, campaign, busy, now - timedelta(days=1), now, 0)
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


async def test_a_page_is_bounded_by_bytes_across_every_trigger_type(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """20 action types of 10 actions with 64 KiB bodies each: a page under a 1 MiB budget
    holds 16 of them, and paging reads all 200 once, in (timestamp, ID) order."""
    start = datetime.now(UTC) - timedelta(hours=1)
    types = [f"t{i}" for i in range(20)]
    body = {"blob": "x" * 65_536}
    async with engine.begin() as conn:
        await conn.execute(
            insert(Event),
            [
                {
                    "id": f"evt_big_{tenant.org_id[:8]}_{n:03d}",
                    "org_id": tenant.org_id,
                    "user_id": "u",
                    "action": types[n % 20],
                    "occurred_at": start + timedelta(seconds=n),
                    "data": body,
                    "metadata": {},
                    "fingerprint": "big",
                    "status": "processed",
                }
                for n in range(200)
            ],
        )
    seen: list[str] = []
    sizes: list[int] = []
    after, last = None, False
    while not last:
        async with engine.connect() as conn:
            page, last = await store.page(
                conn, tenant.org_id, types, start, start + timedelta(hours=1), after, 1000, 2**20
            )
        sizes.append(len(page))
        seen += [s.event_id for s in page]
        if page:
            after = (page[-1].occurred_at, page[-1].event_id)
    assert seen == [f"evt_big_{tenant.org_id[:8]}_{n:03d}" for n in range(200)]
    assert max(sizes) == 16  # 16 x 64 KiB = 1 MiB: the page stops there


async def test_the_service_wide_cap_holds_under_concurrent_starts(
    engine: AsyncEngine, client: Client
) -> None:
    """Eight orgs start a backtest at once (runs on a queue no worker serves, so each stays
    running): four start, four are told the service is busy."""
    tenants = [await make_tenant(engine, "http://unused") for _ in range(8)]
    campaigns = []
    async with engine.begin() as conn:
        for tenant in tenants:
            definition = CampaignDefinition.model_validate(
                {
                    "name": "c",
                    "triggers": [{"type": "visit"}],
                    "effects": [{"type": "add_points", "config": {"amount": 1}}],
                }
            )
            campaigns.append(await campaign_store.create(conn, tenant.org_id, definition, "draft"))
    runs = TemporalRuns(client, "loyalty-no-worker")
    now = datetime.now(UTC)

    async def start(tenant: Tenant, campaign: str) -> str:
        try:
            found = await backtests.request(
                engine, runs, tenant.org_id, campaign, now - timedelta(days=1), now, True
            )
        except Conflict as exc:
            return exc.code or ""
        return found.id

    outcomes = await asyncio.gather(*(start(t, c) for t, c in zip(tenants, campaigns, strict=True)))
    started = [o for o in outcomes if o.startswith("bt_")]
    try:
        assert len(started) == backtests.MAX_RUNNING_ALL
        assert sorted(set(outcomes) - set(started)) == ["backtests_busy"]
    finally:
        async with engine.begin() as conn:  # leave the cap to the other tests
            await conn.execute(
                update(Backtest).where(Backtest.id.in_(started)).values(status="failed")
            )
        for backtest_id in started:
            await client.get_workflow_handle(backtest_id).terminate()
        for tenant in tenants:
            await tenant.http.aclose()


async def test_a_backtest_whose_run_is_gone_ends_failed(
    tenant: Tenant, engine: AsyncEngine, client: Client
) -> None:
    """Terminated, or never started: the row ends ``failed``; an open run's row is kept."""
    campaign = await draft(tenant)
    now = datetime.now(UTC)
    ids = {name: f"bt_{name}_{tenant.org_id[:8]}" for name in ("terminated", "lost", "open")}
    async with engine.begin() as conn:
        for backtest_id in ids.values():
            await store.create(
                conn, backtest_row(tenant.org_id, campaign, backtest_id, now, now, 0)
            )
    for name in ("terminated", "open"):
        await client.start_workflow(
            BacktestCampaign.run,
            BacktestInput(backtest_id=ids[name], org_id=tenant.org_id),
            id=ids[name],
            task_queue="loyalty-no-worker",
        )
    await client.get_workflow_handle(ids["terminated"]).terminate()
    runs = TemporalRuns(client, "loyalty-no-worker")
    await backtests.abandoned(runs, engine, 0, 1000)
    try:
        statuses = {
            name: (await backtests.get(engine, tenant.org_id, i)).status for name, i in ids.items()
        }
        assert statuses == {"terminated": "failed", "lost": "failed", "open": "running"}
    finally:
        await client.get_workflow_handle(ids["open"]).terminate()
        await backtests.fail(engine, ids["open"], "test over")
