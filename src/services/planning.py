"""Planning an action: resolve its user, judge it against the campaigns in force and reserve
the limits of the campaigns that fire, then store the plan the workflow grants from. A refund
action the org maps (``reversalActions``) first requests the reversal of the action it names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.domain import errors
from src.domain.actions import ActionInput
from src.domain.campaigns import CampaignVersion
from src.domain.effects import ActionPlan, LimitedCampaign, PlannedEffect, points_of
from src.domain.identity import enrollable
from src.domain.limits import counters
from src.domain.planning import judge, limited, outcome
from src.services import outcomes, reversals
from src.store import campaigns, limits, planning, plans, recovery, users, webhooks


class Planner:
    """Plans on the process' engine; the plan activity's whole body."""

    def __init__(
        self,
        engine: AsyncEngine,
        starts: reversals.Starts | None = None,
        parsed: campaigns.Parsed | None = None,
    ) -> None:
        """``parsed``: the campaign versions this process has parsed (a new cache if None)."""
        self.engine = engine
        self.parsed = campaigns.parsed_versions() if parsed is None else parsed
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.starts = starts  # for refund actions' reversals; None: they are not requested

    async def plan(self, action: ActionInput) -> ActionPlan:
        """The event's plan, stored once: every attempt, retry or replay returns the first.

        The common case (a first attempt, a known user, no limited campaign matched) needs no
        transaction: one read, then a write that stores the plan only if no other attempt
        stored one first. Enrolment, limit reservations and retries take the locked path.
        """
        source = action.metadata.get("source")
        source = source if isinstance(source, str) else None
        refused = None  # a refund action whose reversal cannot be made is skipped as such
        async with self.autocommit.connect() as conn:
            context = await planning.load(conn, action, source)
            versions = await campaigns.versions_for(
                conn, action.org_id, context.active, self.parsed
            )
            user, settings = context.found.user, context.found.settings
            rule = settings.reversal_actions.get(action.action)
            # Asked again with a stored plan too (a replay): the same request, so a reversal
            # of it that failed is tried again; the stored plan stays what it was.
            if rule is not None and self.starts is not None:
                owner = None if user is None else user["id"]
                try:
                    why = await reversals.request_for_action(
                        self.engine, self.starts, action, rule, owner
                    )
                except reversals.OriginalUnsettled as unsettled:
                    if context.stored is None and not action.waited_out:
                        return await self._wait(action, unsettled.event_id)
                    why = f"{errors.REVERSAL_REFUSED}:{reversals.NOT_SETTLED}"
                if why is not None and context.stored is None:
                    refused = ActionPlan(status="skipped", user_id=None, reason=why)
            enroll = user is None and enrollable(action.user_id, settings)
            if refused is None and context.stored is None and not enroll:
                result = judge(action, user, versions, settings)
                # A skip is announced (event.skipped) with its plan: the locked path.
                if (
                    result.status != "skipped"
                    and not limited(versions, result.campaign_ids)
                    and await plans.save_plan(conn, action.event_id, result)
                ):
                    return result
        async with self.engine.begin() as conn:
            if enroll:  # idempotent: a retry finds the user it enrolled
                user = await users.enroll(conn, action.org_id, action.user_id, source)
            # Limits may be reserved for this user: hold it before the event row, the order in
            # which merges and erasures take them (users, then events).
            holder = None if user is None else await users.hold(conn, action.org_id, user["id"])
            stored = await plans.lock_plan(conn, action.event_id)
            if stored is not None:  # a retry, reset or replay: judged as before
                await plans.reopen(conn, action.event_id, stored)
                return stored
            if holder is None:  # unknown, or erased since it was resolved
                user = None
            result = refused or judge(action, user, versions, settings)
            if holder is not None and limited(versions, result.campaign_ids):
                result = await _reserve(conn, action, holder, settings.zone, versions, result)
            await plans.save_plan(conn, action.event_id, result)
            if result.status == "skipped":
                skipped = {"eventId": action.event_id, "status": "skipped", "reason": result.reason}
                await webhooks.notify(conn, action.org_id, "event.skipped", skipped)
            return result

    async def _wait(self, action: ActionInput, original: str) -> ActionPlan:
        """A refund action whose purchase is not settled yet: the event shows it waits (and
        leaves the relay's window), and the run plans again after a timer."""
        reason = f"{errors.WAITING_FOR}:{original}"
        async with self.engine.begin() as conn:
            await plans.wait(conn, action.event_id, reason)
        return ActionPlan(status="waiting", user_id=None, reason=reason)

    async def give_up(self, action: ActionInput) -> None:
        """End an event whose planning keeps failing as ``plan_error`` (replayable)."""
        async with self.engine.begin() as conn:
            await recovery.fail_unsettled(conn, action.event_id, errors.PLAN_ERROR)
            await outcomes.announce_failed(conn, action.org_id, action.event_id, errors.PLAN_ERROR)


async def _reserve(
    conn: AsyncConnection,
    action: ActionInput,
    holder: str,
    zone: tzinfo,
    versions: Sequence[CampaignVersion],
    draft: ActionPlan,
) -> ActionPlan:
    """Reserve each limited campaign's firing; a refused one contributes no effects, and a
    matched campaign that plans no effect (a proportional grant rounding to nothing) reserves
    nothing.

    Per-user counters are the holder's (a merged user counts against its survivor), held
    shared so a merge or erasure cannot move counters under the reservation.
    """
    by_campaign = {v.campaign_id: v for v in versions}
    mine: dict[str, list[PlannedEffect]] = {c: [] for c in draft.campaign_ids}
    for effect in draft.effects:
        mine[effect.campaign_id].append(effect)
    kept: list[PlannedEffect] = []
    refusals: list[LimitedCampaign] = []
    for campaign_id, effects in mine.items():
        version = by_campaign[campaign_id]
        rules = version.definition.limits
        if rules is not None and effects:
            firing = limits.Firing(
                org_id=action.org_id,
                event_id=action.event_id,
                campaign_id=campaign_id,
                version=version.version,
                effects=len(effects),
                points=points_of(effects),
            )
            refused = await limits.reserve(
                conn, firing, holder, counters(rules, action.accepted, zone)
            )
            if refused is not None:
                reason = f"{errors.LIMIT_REACHED}:{refused}"
                refusals.append(LimitedCampaign(campaign_id=campaign_id, reason=reason))
                continue
            effects = [e.model_copy(update={"reserved": True}) for e in effects]
        kept += effects
    return outcome(str(draft.user_id), draft.campaign_ids, kept, refusals, draft.judged_at)
