"""Recorded ProcessAction histories must replay against today's workflow code.

A change that breaks determinism for runs already in flight fails here. To record fresh
histories (after an intentional, versioned change): LOYALTY_RECORD_HISTORIES=1 make test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from src.workflows.process_action import ProcessAction
from tests.guide import FLOW_ACTION, post_action, setup_guide
from tests.support import Tenant, wait_for_event, workflow_result

HISTORIES = Path(__file__).parent / "histories"
REPLAYER = Replayer(workflows=[ProcessAction], data_converter=pydantic_data_converter)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await REPLAYER.replay_workflow(history)
    assert result.replay_failure is None


def test_histories_are_recorded() -> None:
    names = {p.stem for p in HISTORIES.glob("*.json")}
    assert {"matching_three_effects", "non_matching", "pool_exhausted"} <= names


async def test_fresh_runs_replay(tenant: Tenant, client: Client) -> None:
    """Today's runs replay too; with LOYALTY_RECORD_HISTORIES set they are saved."""
    await setup_guide(tenant, codes=1)
    runs = {
        "matching_three_effects": await post_action(tenant, FLOW_ACTION),
        "non_matching": await post_action(tenant, {**FLOW_ACTION, "data": {"amount": 5}}),
    }
    await wait_for_event(tenant, runs["matching_three_effects"])
    runs["pool_exhausted"] = await post_action(tenant, FLOW_ACTION)
    for name, event_id in runs.items():
        await workflow_result(client, event_id)
        history = await client.get_workflow_handle(event_id).fetch_history()
        assert (await REPLAYER.replay_workflow(history)).replay_failure is None
        if os.environ.get("LOYALTY_RECORD_HISTORIES"):
            (HISTORIES / f"{name}.json").write_text(history.to_json())
