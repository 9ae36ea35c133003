"""Activities of ProcessAction: all of the workflow's I/O, each in one database transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from src.activities.names import APPLY_EFFECT, PLAN_ACTION
from src.domain import errors
from src.domain.actions import ActionInput
from src.domain.campaigns import CampaignVersion
from src.domain.effects import (
    ActionPlan,
    EffectRequest,
    EffectResult,
    LimitedCampaign,
    PlannedEffect,
    points_of,
)
from src.domain.limits import counters as limit_counters
from src.domain.planning import plan
from src.store import campaigns, events, ledger, limits, planning, users

AfterCommitHook = Callable[[EffectRequest, EffectResult], None]


class ActionActivities:
    """Holds the process' engine; ``after_commit`` lets fault-injection tests fail an attempt
    after its transaction committed, the case exactly-once must survive."""

    def __init__(self, engine: AsyncEngine, after_commit: AfterCommitHook | None = None) -> None:
        self.engine = engine
        self.after_commit = after_commit

    @activity.defn(name=PLAN_ACTION)
    async def plan_action(self, action: ActionInput) -> ActionPlan:
        """Resolve the user, match campaigns in force at the action's time, store the plan.

        For an action that matches nothing this is the workflow's only activity.
        """
        source = action.metadata.get("source")
        source = source if isinstance(source, str) else None
        async with self.engine.begin() as conn:
            context = await planning.load(conn, action, source)
            if context.stored is not None:  # a retry, reset or replay: judged as before
                await events.save_plan(conn, action.event_id, context.stored)
                return context.stored
            found = context.found
            user = found.user
            if user is None and found.settings.get("unknownUsers") == "enroll":
                user = await users.enroll(conn, action.org_id, action.user_id, source)
            if user is None:
                result = ActionPlan(status="skipped", user_id=None, reason=errors.UNKNOWN_USER)
            else:
                versions = await campaigns.versions_for(conn, action.org_id, context.active)
                facts = {"data": action.data, "metadata": action.metadata, "user": user}
                matched, effects = plan(
                    action.event_id, action.action, action.timestamp, facts, versions
                )
                zone = ZoneInfo(found.settings.get("timezone", "UTC"))
                effects, limited = await self._apply_limits(
                    conn, action, user["id"], zone, versions, matched, effects
                )
                result = ActionPlan(
                    status="processing" if effects else "processed",
                    user_id=user["id"],
                    reason="limit_reached" if limited and not effects else None,
                    campaign_ids=matched,
                    effects=effects,
                    limited=limited,
                )
            await events.save_plan(conn, action.event_id, result)
            return result

    @staticmethod
    async def _apply_limits(
        conn: AsyncConnection,
        action: ActionInput,
        user_id: str,
        zone: tzinfo,
        versions: list[CampaignVersion],
        matched: list[str],
        effects: list[PlannedEffect],
    ) -> tuple[list[PlannedEffect], list[LimitedCampaign]]:
        """Reserve each limited campaign's firing; a refused one contributes no effects."""
        definitions = {v.campaign_id: v.definition for v in versions}
        if all(definitions[c].limits is None for c in matched):
            return effects, []
        by_campaign: dict[str, list[PlannedEffect]] = {c: [] for c in matched}
        for effect in effects:
            by_campaign[effect.campaign_id].append(effect)
        kept: list[PlannedEffect] = []
        limited: list[LimitedCampaign] = []
        for campaign_id, mine in by_campaign.items():
            rules = definitions[campaign_id].limits
            if rules is not None:
                points = points_of(mine)
                counters = limit_counters(rules, user_id, action.timestamp, zone)
                refused = await limits.reserve(conn, action.org_id, campaign_id, counters, points)
                if refused is not None:
                    limited.append(
                        LimitedCampaign(campaign_id=campaign_id, reason=f"limit_reached:{refused}")
                    )
                    continue
            kept += mine
        return kept, limited

    @activity.defn(name=APPLY_EFFECT)
    async def apply_effect(self, request: EffectRequest) -> EffectResult:
        """Grant one effect exactly once; a permanent failure is non-retryable, typed by reason."""
        try:
            result = await ledger.apply_effect(self.engine, request)
        except ledger.EffectFailed as failure:
            raise ApplicationError(
                f"{request.effect.type} failed: {failure.reason}",
                type=failure.reason,
                non_retryable=True,
            ) from failure
        if self.after_commit is not None:
            self.after_commit(request, result)
        return result
