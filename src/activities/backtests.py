"""The activity of BacktestCampaign: ``services.backtests.run``, heartbeating after every
page, so a worker that dies mid-run is noticed within the heartbeat timeout and another
attempt resumes from the last saved page."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from src.activities.actions import Hooks
from src.activities.attempts import or_give_up
from src.domain.backtests import BacktestInput
from src.services import backtests

BACKTEST_ERROR = "backtest_error"


class BacktestActivities:
    def __init__(
        self, *, engine: AsyncEngine, max_attempts: int, hooks: Hooks | None = None
    ) -> None:
        self.engine = engine
        self.max_attempts = max_attempts
        self.hooks = hooks or Hooks()

    @activity.defn(name="backtest_campaign")  # recorded in histories: never rename
    async def backtest_campaign(self, backtest: BacktestInput) -> dict[str, Any]:
        async def beat(processed: int) -> None:
            activity.heartbeat(processed)
            if self.hooks.after_backtest_page is not None:
                await self.hooks.after_backtest_page(backtest, processed)

        return await or_give_up(
            lambda: backtests.run(self.engine, backtest, beat),
            self.max_attempts,
            BACKTEST_ERROR,
            f"backtest {backtest.backtest_id}",
            lambda error: backtests.fail(self.engine, backtest.backtest_id, error),
        )
