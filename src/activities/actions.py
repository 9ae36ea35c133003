"""Activities of ProcessAction: all of the workflow's I/O, each in one database transaction."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from src.activities.names import APPLY_EFFECT, PLAN_ACTION
from src.domain import errors
from src.domain.actions import ActionInput
from src.domain.effects import ActionPlan, EffectRequest, EffectResult
from src.domain.planning import plan
from src.store import campaigns, events, ledger, users

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
        async with self.engine.begin() as conn:
            earlier = await events.stored_plan(conn, action.event_id)
            if earlier is not None:
                await events.save_plan(conn, action.event_id, earlier)
                return earlier
            source = action.metadata.get("source")
            source = source if isinstance(source, str) else None
            found = await users.resolve(conn, action.org_id, action.user_id, source)
            user = found.user
            if user is None and found.settings.get("unknownUsers") == "enroll":
                user = await users.enroll(conn, action.org_id, action.user_id, source)
            if user is None:
                result = ActionPlan(status="skipped", user_id=None, reason=errors.UNKNOWN_USER)
            else:
                versions = await campaigns.in_force(conn, action.org_id, action.action)
                context = {"data": action.data, "metadata": action.metadata, "user": user}
                matched, effects = plan(
                    action.event_id, action.action, action.timestamp, context, versions
                )
                result = ActionPlan(
                    status="processing" if effects else "processed",
                    user_id=user["id"],
                    campaign_ids=matched,
                    effects=effects,
                )
            await events.save_plan(conn, action.event_id, result)
            return result

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
