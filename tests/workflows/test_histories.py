"""Recorded workflow histories (ProcessAction, ReverseAction, BacktestCampaign,
DeliverWebhook) must replay against today's code.

``tests/workflows/histories/<release>/`` holds histories recorded by each release's workflow code; they
are committed and never rewritten, so a change that breaks determinism for runs still in flight
at deploy time fails here. A release that changes workflow code records its own set once:
``make histories`` (it refuses to overwrite a release's histories).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from src.domain.reversals import workflow_id
from src.workflows.backtest_campaign import BacktestCampaign
from src.workflows.codec import data_converter
from src.workflows.deliver_webhook import DeliverWebhook
from src.workflows.process_action import ProcessAction
from src.workflows.reverse_action import ReverseAction
from tests.guide import FLOW_ACTION, post_action, setup_guide
from tests.support import (
    ACTIONS,
    TEST_PAYLOAD_KEYS,
    Receiver,
    Tenant,
    wait_for_event,
    workflow_result,
)

HISTORIES = Path(__file__).parent / "histories"
RELEASE = version("loyalty-engine")
SHAPES = {"matching_three_effects", "non_matching", "pool_exhausted"}
REPLAYER = Replayer(
    workflows=[ProcessAction, ReverseAction, BacktestCampaign, DeliverWebhook],
    data_converter=data_converter(TEST_PAYLOAD_KEYS),
)


@pytest.mark.parametrize(
    "path", sorted(HISTORIES.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await REPLAYER.replay_workflow(history)
    assert result.replay_failure is None


def test_earlier_releases_histories_are_kept() -> None:
    releases = {p.parent.name for p in HISTORIES.glob("*/*.json")} - {RELEASE}
    assert releases, "no history recorded by an earlier release"
    for release in releases:
        assert {p.stem for p in (HISTORIES / release).glob("*.json")} >= SHAPES, release


async def test_fresh_runs_replay(
    tenant: Tenant, client: Client, webhook_receiver: tuple[Receiver, str]
) -> None:
    """Today's runs replay too; with LOYALTY_RECORD_HISTORIES set they are saved as this
    release's histories, once."""
    record = HISTORIES / RELEASE if os.environ.get("LOYALTY_RECORD_HISTORIES") else None
    if record is not None and record.exists():
        pytest.fail(f"{record} exists: a release's histories are never rewritten")
    campaign = await setup_guide(tenant, codes=1)
    hook = {"url": webhook_receiver[1], "events": ["event.skipped"]}
    webhook = (await tenant.http.post("/v1/webhooks", json=hook)).json()["id"]
    runs = {
        "matching_three_effects": await post_action(tenant, FLOW_ACTION),
        "non_matching": await post_action(tenant, {**FLOW_ACTION, "data": {"amount": 5}}),
    }
    await wait_for_event(tenant, runs["matching_three_effects"])
    runs["pool_exhausted"] = await post_action(tenant, FLOW_ACTION)
    for event_id in runs.values():
        await workflow_result(client, event_id)
    reversed_id = runs["matching_three_effects"]
    reply = await tenant.http.post(f"{ACTIONS}/{reversed_id}/reverse")
    assert reply.status_code == 202, reply.text
    runs["reversal_in_full"] = workflow_id(reversed_id, reply.json()["id"])
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat()}
    reply = await tenant.http.post(f"/v1/campaigns/{campaign['id']}/backtest", json=window)
    assert reply.status_code == 202, reply.text
    runs["backtest"] = reply.json()["id"]
    skipped = await post_action(tenant, {**FLOW_ACTION, "userId": "ghost"})
    await wait_for_event(tenant, skipped)
    (delivery,) = (await tenant.http.get(f"/v1/webhooks/{webhook}/deliveries")).json()["data"]
    runs["webhook_delivery"] = delivery["id"]  # answered 500, too late, then accepted
    for name, run_id in runs.items():
        await workflow_result(client, run_id)
        history = await client.get_workflow_handle(run_id).fetch_history()
        assert (await REPLAYER.replay_workflow(history)).replay_failure is None
        if record is not None:
            record.mkdir(exist_ok=True)
            (record / f"{name}.json").write_text(history.to_json())
