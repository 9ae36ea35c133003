"""Starting ProcessAction, ReverseAction and BacktestCampaign runs: the one place that knows
their start options."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from src.domain.actions import ActionInput
from src.domain.backtests import BacktestInput
from src.domain.errors import Conflict, Unavailable
from src.domain.reversals import ReversalInput, workflow_id
from src.workflows import search_attributes as sa
from src.workflows.backtest_campaign import BacktestCampaign
from src.workflows.process_action import LOCAL_THEN_REGULAR, ProcessAction
from src.workflows.reverse_action import ReverseAction

# Starts happen under a locked event row (relay, replay, reconciler): never wait long.
START_TIMEOUT = timedelta(seconds=5)
ASK_TIMEOUT = timedelta(seconds=5)


# Temporal's answers that no retry of the same request changes; anything else (unavailable,
# timeouts, exhausted) is retried.
REJECTED = {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION}


def unserialisable(exc: BaseException) -> bool:
    """The payload could not be serialised or encoded at all: certain, and this row's alone."""
    return isinstance(exc, ValueError | TypeError | RecursionError)


def is_rejection(exc: BaseException) -> bool:
    """Temporal refused the start as invalid, or the payload could not be serialised."""
    return unserialisable(exc) or (isinstance(exc, RPCError) and exc.status in REJECTED)


def _options(action: ActionInput, task_queue: str) -> dict[str, Any]:
    """The run's input (in this release's shape) and its start options."""
    return {
        "arg": action.model_copy(update={"workflow_shape": LOCAL_THEN_REGULAR}),
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
    """Start the event's workflow once: a running one is joined, a closed one is not re-run.

    Eagerly: the relay runs in the worker process on the worker's client, so when a workflow
    slot is free the first workflow task comes back in the start reply and runs here at once,
    without a trip through the task queue (when none is free, it is queued as usual)."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            ProcessAction.run,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=START_TIMEOUT,
            request_eager_start=True,
            **_options(action, task_queue),
        )


log = logging.getLogger(__name__)

# How the SDK's lazy client (the API's) says it has not reached the server yet: a bare
# RuntimeError, not an RPCError.
_NOT_CONNECTED = "Failed client connect"


@contextlib.contextmanager
def _answered() -> Iterator[None]:
    """Temporal not answering is the domain's ``Unavailable``, without its words (they may
    name hosts, or quote a payload)."""
    try:
        yield
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not str(exc).startswith(_NOT_CONNECTED):
            raise
        raise Unavailable("the workflow engine did not answer; nothing was started, retry") from exc


@dataclass(frozen=True)
class TemporalRuns:
    """``services.replay.Runs`` on Temporal: an event's run is its workflow's latest run.
    A call Temporal does not answer raises ``Unavailable``."""

    client: Client
    task_queue: str
    backtest_heartbeat_seconds: float = 60.0

    async def running(self, event_id: str) -> bool:
        """No such workflow (never started there, or its history is gone) is not running;
        any other failure to answer raises."""
        with _answered():
            try:
                handle = self.client.get_workflow_handle(event_id)
                described = await handle.describe(rpc_timeout=ASK_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
        return described.status == WorkflowExecutionStatus.RUNNING

    async def closes_within(self, event_id: str, wait: timedelta) -> bool:
        handle = self.client.get_workflow_handle(event_id)
        try:
            with _answered(), contextlib.suppress(WorkflowFailureError):
                await asyncio.wait_for(handle.result(follow_runs=False), wait.total_seconds())
        except TimeoutError:
            return False
        return True

    async def start_again(self, action: ActionInput) -> str:
        """A new run of a closed event's workflow (same workflow ID); returns its run ID."""
        with _answered():
            try:
                handle = await self.client.start_workflow(
                    ProcessAction.run,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    rpc_timeout=START_TIMEOUT,
                    **_options(action, self.task_queue),
                )
            except WorkflowAlreadyStartedError as exc:
                raise Conflict(f"event '{action.event_id}' has a run in progress") from exc
            except Exception as exc:
                if is_rejection(exc):  # why goes to the log, not into a reply
                    log.warning("Temporal refused to start %s: %s", action.event_id, exc)
                    message = f"event '{action.event_id}' cannot be started: Temporal refused it"
                    raise Conflict(message) from exc
                raise
        return str(handle.result_run_id)

    async def start_reversal(self, reversal: ReversalInput) -> None:
        """Start the reversal's run: one going on is joined, a completed one is enough; one
        that ended without completing (terminated, failed) may run again."""
        with _answered(), contextlib.suppress(WorkflowAlreadyStartedError):
            await self.client.start_workflow(
                ReverseAction.run,
                reversal,
                id=workflow_id(reversal.event_id, reversal.reversal_id),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                rpc_timeout=START_TIMEOUT,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.ORG_ID, reversal.org_id),
                        SearchAttributePair(sa.ACTION, "reverse"),
                    ]
                ),
                static_summary=f"reverse {reversal.event_id}",
                priority=Priority(fairness_key=reversal.org_id),
            )

    async def start_backtest(self, backtest: BacktestInput) -> None:
        with _answered():
            await self._start_backtest(backtest)

    async def _start_backtest(self, backtest: BacktestInput) -> None:
        await self.client.start_workflow(
            BacktestCampaign.run,
            backtest.model_copy(update={"heartbeat_seconds": self.backtest_heartbeat_seconds}),
            id=backtest.backtest_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            rpc_timeout=START_TIMEOUT,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.ORG_ID, backtest.org_id)]
            ),
            static_summary=f"backtest {backtest.backtest_id}",
            priority=Priority(fairness_key=backtest.org_id),
        )
