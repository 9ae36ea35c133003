"""Activities of ProcessAction: all of the workflow's I/O, each in one database transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

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
from src.domain.identity import enrollable
from src.domain.limits import counters as limit_counters
from src.domain.planning import plan
from src.domain.settings import OrgSettings
from src.store import campaigns, events, ledger, limits, planning, users
from src.store.db import is_transient

log = logging.getLogger(__name__)
# Attempts after which an activity failing for a reason other than an unavailable database
# (a fault in the data or the code) gives up: the event ends failed, replayable after a fix.
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Hooks:
    """Fault injection for tests: fail a plan, or fail an effect's attempt after its
    transaction committed (granted or failed), the cases exactly-once must survive."""

    before_plan: Callable[[ActionInput], Awaitable[None]] | None = None
    after_effect: Callable[[EffectRequest, EffectResult], Awaitable[None]] | None = None


class ActionActivities:
    """Holds the process' engine and the attempt budget for faults that are not outages."""

    def __init__(
        self, engine: AsyncEngine, hooks: Hooks | None = None, max_attempts: int = MAX_ATTEMPTS
    ) -> None:
        self.engine = engine
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.hooks = hooks or Hooks()
        self.max_attempts = max_attempts

    def _gives_up(self, exc: Exception) -> bool:
        """An outage (or a pool whose codes are all being claimed) is retried for as long as
        it lasts; any other failure only ``max_attempts`` times."""
        if is_transient(exc) or isinstance(exc, ledger.PoolContended):
            return False
        return activity.info().attempt >= self.max_attempts

    @activity.defn(name="plan_action")  # names recorded in histories: never change them
    async def plan_action(self, action: ActionInput) -> ActionPlan:
        """Plan the action (``_plan``); a plan that keeps failing ends the event failed with
        reason ``plan_error`` and raises a non-retryable error of that type."""
        try:
            if self.hooks.before_plan is not None:
                await self.hooks.before_plan(action)
            return await self._plan(action)
        except Exception as exc:
            if not self._gives_up(exc):
                raise
            async with self.engine.begin() as conn:
                await events.fail_unsettled(conn, action.event_id, errors.PLAN_ERROR)
            # Its type only: the message may quote the data that failed.
            log.error("planning %s gave up: %s", action.event_id, type(exc).__name__)
            raise ApplicationError(
                f"planning failed {activity.info().attempt} times: {type(exc).__name__}",
                type=errors.PLAN_ERROR,
                non_retryable=True,
            ) from None

    async def _plan(self, action: ActionInput) -> ActionPlan:
        """Resolve the user, match campaigns in force at the action's time, store the plan.

        For an action that matches nothing this is the workflow's only activity. The common
        case (a first attempt, a known user, no limited campaign matched) needs no transaction:
        one read, then a write that stores the plan only if no other attempt stored one first.
        Enrolment, limit reservations and retries take the locked, transactional path.
        """
        source = action.metadata.get("source")
        source = source if isinstance(source, str) else None
        async with self.autocommit.connect() as conn:
            context = await planning.load(conn, action, source)
            versions = await campaigns.versions_for(conn, action.org_id, context.active)
            user, settings = context.found.user, context.found.settings
            enroll = user is None and enrollable(action.user_id, settings)
            if context.stored is None and not enroll:
                result = _judge(action, user, versions, settings)
                if not _limited(versions, result.campaign_ids) and await events.save_plan(
                    conn, action.event_id, result
                ):
                    return result
        async with self.engine.begin() as conn:
            if enroll:  # idempotent: a retry finds the user it enrolled
                user = await users.enroll(conn, action.org_id, action.user_id, source)
            # Limits may be reserved for this user: hold it before the event row, the order in
            # which merges and erasures take them (users, then events).
            holder = None if user is None else await users.hold(conn, action.org_id, user["id"])
            stored = await events.lock_plan(conn, action.event_id)
            if stored is not None:  # a retry, reset or replay: judged as before
                await events.reopen(conn, action.event_id, stored)
                return stored
            if holder is None:  # unknown, or erased since it was resolved
                user = None
            result = _judge(action, user, versions, settings)
            if holder is not None and result.campaign_ids:
                result = await self._apply_limits(
                    conn, action, holder, settings.zone, versions, result
                )
            await events.save_plan(conn, action.event_id, result)
            return result

    @staticmethod
    async def _apply_limits(
        conn: AsyncConnection,
        action: ActionInput,
        holder: str,
        zone: tzinfo,
        versions: list[CampaignVersion],
        draft: ActionPlan,
    ) -> ActionPlan:
        """Reserve each limited campaign's firing; a refused one contributes no effects, and
        a matched campaign that plans no effect (a proportional grant rounding to nothing)
        reserves nothing.

        Per-user counters are the holder's (a merged user counts against its survivor), held
        shared so a merge or erasure cannot move counters under the reservation.
        """
        matched = draft.campaign_ids
        if not _limited(versions, matched):
            return draft
        by_campaign = {v.campaign_id: v for v in versions}
        mine: dict[str, list[PlannedEffect]] = {c: [] for c in matched}
        for effect in draft.effects:
            mine[effect.campaign_id].append(effect)
        kept: list[PlannedEffect] = []
        limited: list[LimitedCampaign] = []
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
                counters = limit_counters(rules, action.accepted, zone)
                refused = await limits.reserve(conn, firing, holder, counters)
                if refused is not None:
                    limited.append(
                        LimitedCampaign(
                            campaign_id=campaign_id, reason=f"{errors.LIMIT_REACHED}:{refused}"
                        )
                    )
                    continue
                effects = [e.model_copy(update={"reserved": True}) for e in effects]
            kept += effects
        return _result(str(draft.user_id), matched, kept, limited, draft.judged_at)

    @activity.defn(name="apply_effect")
    async def apply_effect(self, request: EffectRequest) -> EffectResult:
        """Grant one effect exactly once; a permanent failure is non-retryable, typed by reason.

        A fault that is not an outage gives up after ``max_attempts``: the effect is recorded
        failed (``effect_error``) unless an earlier attempt granted it.
        """
        try:
            result = await ledger.apply_effect(self.engine, request)
        except Exception as exc:
            if not self._gives_up(exc):
                raise
            result = await ledger.fail(self.engine, request, errors.EFFECT_ERROR)
        if self.hooks.after_effect is not None:
            await self.hooks.after_effect(request, result)
        if result.status == "failed":  # an expected outcome (empty pool…): not logged as an error
            raise ApplicationError(
                f"{request.effect.type} failed: {result.reason}",
                type=result.reason,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        return result


def _limited(versions: list[CampaignVersion], matched: list[str]) -> bool:
    """Whether any matched campaign has limits (and so needs reservations)."""
    capped = {v.campaign_id for v in versions if v.definition.limits is not None}
    return not capped.isdisjoint(matched)


def _judge(
    action: ActionInput,
    user: dict[str, Any] | None,
    versions: list[CampaignVersion],
    settings: OrgSettings,
) -> ActionPlan:
    """The plan before limits: skipped for an unknown user (one the org would enrol but whose
    ID is an email or a phone number is ``unenrollable_id``), else every matching effect."""
    moment = action.judged_at(settings.maxEventAge)
    if user is None:
        reason = (
            errors.UNENROLLABLE_ID
            if settings.unknownUsers == "enroll" and not enrollable(action.user_id, settings)
            else errors.UNKNOWN_USER
        )
        return ActionPlan(status="skipped", user_id=None, reason=reason, judged_at=moment)
    facts = {"data": action.data, "metadata": action.metadata, "user": user}
    matched, effects = plan(action.event_id, action.action, moment, facts, versions)
    return _result(user["id"], matched, effects, [], moment)


def _result(
    user_id: str,
    matched: list[str],
    effects: list[PlannedEffect],
    limited: list[LimitedCampaign],
    judged_at: datetime | None,
) -> ActionPlan:
    return ActionPlan(
        status="processing" if effects else "processed",
        user_id=user_id,
        reason=errors.LIMIT_REACHED if limited and not effects else None,
        campaign_ids=matched,
        effects=effects,
        limited=limited,
        judged_at=judged_at,
    )
