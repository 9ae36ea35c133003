"""Starting ProcessAction runs: the one place that knows the workflow's start options."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from src.domain.actions import ActionInput
from src.workflows import search_attributes as sa
from src.workflows.process_action import ProcessAction

# Starts happen under a locked event row (relay, replay, reconciler): never wait long.
START_TIMEOUT = timedelta(seconds=5)


def _options(action: ActionInput, task_queue: str) -> dict[str, Any]:
    return {
        "id": action.event_id,
        "task_queue": task_queue,
        # Search attributes bypass the payload codec: no user reference here (the workflow
        # adds the resolved platform user ID once it has planned).
        "search_attributes": TypedSearchAttributes(
            [
                SearchAttributePair(sa.ORG_ID, action.org_id),
                SearchAttributePair(sa.ACTION, action.action),
            ]
        ),
        "static_summary": action.action,
        # Temporal's task-queue fairness: each org's tasks take their turn with every other
        # org's, however many one org has queued.
        "priority": Priority(fairness_key=action.org_id),
    }


async def start_action(client: Client, action: ActionInput, task_queue: str) -> None:
    """Start the event's workflow once: a running one is joined, a closed one is not re-run."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            ProcessAction.run,
            action,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=START_TIMEOUT,
            **_options(action, task_queue),
        )


async def start_replay(client: Client, action: ActionInput, task_queue: str) -> str:
    """A new run of a closed event's workflow (same workflow ID); returns its run ID.

    Raises WorkflowAlreadyStartedError while a run is still open.
    """
    handle = await client.start_workflow(
        ProcessAction.run,
        action,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        rpc_timeout=START_TIMEOUT,
        **_options(action, task_queue),
    )
    return str(handle.result_run_id)
