"""BacktestCampaign: one workflow per backtest (ID = backtest ID). Its one activity pages
through the stored actions, heartbeating each page; the run's details say how far it got."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy

with workflow.unsafe.imports_passed_through():
    from src.activities.backtests import BacktestActivities
    from src.domain.backtests import BacktestInput
    from src.workflows.process_action import RETRY

RUN_TIMEOUT = timedelta(hours=6)
# Since 0.6.0 (a patch marker says so) a backtest gets this many attempts in all, a worker
# that dies mid-run included (each resumes from the last saved page); then the run fails and
# the reconciler ends its row ``failed``. Before, attempts went on as long as they failed.
BOUNDED: Final = "backtest-attempts-bounded"
ATTEMPTS = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)


@workflow.defn(name="BacktestCampaign")
class BacktestCampaign:
    @workflow.run
    async def run(self, backtest: BacktestInput) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_activity_method(
            BacktestActivities.backtest_campaign,
            backtest,
            start_to_close_timeout=RUN_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=backtest.heartbeat_seconds),
            retry_policy=ATTEMPTS if workflow.patched(BOUNDED) else RETRY,
            priority=Priority(fairness_key=backtest.org_id),
            summary=f"backtest {backtest.backtest_id}",
        )
        workflow.set_current_details(
            f"**completed**: {result['processed']} actions, {result['fired']} would fire"
        )
        return result
