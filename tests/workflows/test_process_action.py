"""ProcessAction alone, its activities mocked (as temporalio's samples test workflows), on the
session's dev server: the order of effects, what a permanent or passing failure does, and the
outcome and search attributes it leaves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest_asyncio
from temporalio import activity
from temporalio.api.history.v1 import ActivityTaskScheduledEventAttributes
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

from src.domain.actions import ActionInput
from src.domain.effects import ActionPlan, EffectRequest, EffectResult, PlannedEffect
from src.workflows import search_attributes as sa
from src.workflows.client import register_search_attributes
from src.workflows.codec import data_converter
from src.workflows.process_action import LOCAL_THEN_REGULAR, ProcessAction
from tests.support import TEST_PAYLOAD_KEYS

REPLAYER = Replayer(workflows=[ProcessAction], data_converter=data_converter(TEST_PAYLOAD_KEYS))


def effect(index: int, kind: str = "add_points") -> PlannedEffect:
    return PlannedEffect(
        key=f"evt:cmp:1:{index}",
        campaign_id="cmp",
        campaign_version=1,
        effect_index=index,
        type=kind,  # type: ignore[arg-type]
        amount=10 if kind == "add_points" else None,
        pool_id="pool" if kind == "allocate_code" else None,
        reason="test",
    )


@dataclass
class Mocked:
    """Stand-ins for the two activities: a canned plan, and effects that fail as told."""

    plan: ActionPlan
    plan_gives_up: bool = False
    fail_for_good: set[int] = field(default_factory=set)  # effect indexes: non-retryable
    passing: dict[int, int] = field(default_factory=dict)  # effect index: failures that pass
    applied: list[int] = field(default_factory=list)
    attempts: dict[int, int] = field(default_factory=dict)

    @activity.defn(name="plan_action")
    async def plan_action(self, _: ActionInput) -> ActionPlan:
        if self.plan_gives_up:
            raise ApplicationError("gave up", type="plan_error", non_retryable=True)
        return self.plan

    @activity.defn(name="apply_effect")
    async def apply_effect(self, request: EffectRequest) -> EffectResult:
        index = request.effect.effect_index
        self.attempts[index] = self.attempts.get(index, 0) + 1
        if index in self.fail_for_good:
            raise ApplicationError("empty", type="pool_exhausted", non_retryable=True)
        if self.attempts[index] <= self.passing.get(index, 0):
            raise RuntimeError("database restarting")
        self.applied.append(index)
        return EffectResult(key=request.effect.key, status="granted")


@dataclass
class Harness:
    client: Client
    history: WorkflowHistory | None = None
    details: str = ""

    async def run(self, mocked: Mocked) -> tuple[str, dict[str, object]]:
        """Run one action through ProcessAction on a worker of the mocks alone."""
        queue = f"mocked-{uuid.uuid4().hex[:8]}"
        action = ActionInput(
            event_id=f"evt_{uuid.uuid4()}",
            org_id=str(uuid.uuid4()),
            user_id="user_1",
            action="purchase_completed",
            timestamp=datetime(2025, 10, 6, tzinfo=UTC),
            data={"amount": 150},
            metadata={},
            workflow_shape=LOCAL_THEN_REGULAR,  # as the starter sends it
        )
        async with Worker(
            self.client,
            task_queue=queue,
            workflows=[ProcessAction],
            activities=[mocked.plan_action, mocked.apply_effect],
        ):
            handle = await self.client.start_workflow(
                ProcessAction.run, action, id=action.event_id, task_queue=queue
            )
            outcome = await handle.result()
            found = (await handle.describe()).typed_search_attributes
            self.history = await handle.fetch_history()
            # What the UI shows as the run's current details (answered by this worker).
            metadata = await handle.query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
            self.details = metadata.current_details
        attributes = {pair.key.name: pair.value for pair in found}
        return outcome, attributes


def scheduled(history: WorkflowHistory) -> list[ActivityTaskScheduledEventAttributes]:
    """The regular activities a run scheduled (local ones leave markers only)."""
    return [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


@pytest_asyncio.fixture
async def harness(client: Client) -> AsyncIterator[Harness]:
    await register_search_attributes(client)
    yield Harness(client)


def planned(*effects: PlannedEffect, status: str = "processing") -> ActionPlan:
    return ActionPlan(
        status=status,  # type: ignore[arg-type]
        user_id="user_1",
        campaign_ids=["cmp"] if effects else [],
        effects=list(effects),
    )


async def test_no_effects_is_processed_by_the_plan_alone(harness: Harness) -> None:
    mocked = Mocked(planned(status="processed"))
    outcome, attributes = await harness.run(mocked)
    assert outcome == "processed" and mocked.attempts == {}
    assert attributes[sa.OUTCOME.name] == "processed"


async def test_effects_are_granted_in_plan_order(harness: Harness) -> None:
    mocked = Mocked(planned(effect(0), effect(1, "award_product"), effect(2, "allocate_code")))
    outcome, attributes = await harness.run(mocked)
    assert outcome == "processed" and mocked.applied == [0, 1, 2]
    assert attributes[sa.USER_ID.name] == "user_1"
    assert attributes[sa.CAMPAIGN_IDS.name] == ["cmp"]


async def test_a_permanent_failure_fails_the_event_but_not_the_other_effects(
    harness: Harness,
) -> None:
    mocked = Mocked(planned(effect(0), effect(1), effect(2)), fail_for_good={1})
    outcome, attributes = await harness.run(mocked)
    assert outcome == "failed" and mocked.applied == [0, 2]
    assert mocked.attempts[1] == 1  # non-retryable: tried once
    assert attributes[sa.OUTCOME.name] == "failed"
    said = [effect(i).summary("user_1") for i in range(3)]
    assert harness.details.splitlines() == [
        "**failed**",
        f"- {said[0]}: granted",
        f"- {said[1]}: **pool_exhausted**",
        f"- {said[2]}: granted",
    ]


async def test_a_passing_failure_is_retried_and_granted(harness: Harness) -> None:
    mocked = Mocked(planned(effect(0), effect(1)), passing={0: 1})
    outcome, _ = await harness.run(mocked)
    assert outcome == "processed" and mocked.applied == [0, 1]
    assert mocked.attempts == {0: 2, 1: 1}
    assert harness.history is not None and not scheduled(harness.history)


async def test_a_step_failing_past_its_local_tries_becomes_a_regular_activity(
    harness: Harness,
) -> None:
    """Three local tries fail: the effect is scheduled as a regular activity (the UI shows it
    pending with its attempts while the fault lasts) under the same ID and summary."""
    mocked = Mocked(planned(effect(0), effect(1)), passing={0: 4})
    outcome, _ = await harness.run(mocked)
    assert outcome == "processed" and mocked.applied == [0, 1]
    assert mocked.attempts == {0: 5, 1: 1}  # 3 local, then 2 as a regular activity
    assert harness.history is not None
    [regular] = scheduled(harness.history)
    assert regular.activity_type.name == "apply_effect"
    assert regular.activity_id == effect(0).key
    # The path replays, in Temporal's sandbox (what a worker restarted mid-outage does).
    replayed = await REPLAYER.replay_workflow(harness.history)
    assert replayed.replay_failure is None


async def test_a_plan_that_gives_up_fails_the_event(harness: Harness) -> None:
    mocked = Mocked(planned(effect(0)), plan_gives_up=True)
    outcome, attributes = await harness.run(mocked)
    assert outcome == "failed" and mocked.attempts == {}
    assert attributes[sa.OUTCOME.name] == "failed"
    assert harness.details.startswith("**failed**: plan_error")


async def test_a_skipped_action_says_why(harness: Harness) -> None:
    plan = planned(status="skipped").model_copy(update={"reason": "unknown_user"})
    outcome, attributes = await harness.run(Mocked(plan))
    assert outcome == "skipped" and attributes[sa.OUTCOME.name] == "skipped"
    assert harness.details == "**skipped**: unknown_user"
