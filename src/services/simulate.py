"""Simulation: what an action would do, with every condition explained, and no writes.

It judges the action as planning would (``domain.planning.judge``) and reads each limit's
counters through the one limit rule (``Counter.admits``), so a simulation and a real run can
only differ by what changed in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.domain.actions import ActionInput, ActionRequest
from src.domain.campaigns import CampaignVersion
from src.domain.effects import PlannedEffect, points_of
from src.domain.identity import enrollable
from src.domain.limits import counters
from src.domain.planning import Explanation, explain, judge
from src.store import campaigns, limits, users

SIMULATED_EVENT = "evt_simulated"


@dataclass(frozen=True)
class LimitCheck:
    limit: str
    scope: str
    count: int
    max_count: int | None
    points: Decimal
    points_budget: Decimal | None
    would_block: bool


@dataclass(frozen=True)
class CampaignOutcome:
    campaign_id: str
    version: int
    name: str
    explanation: Explanation
    limits: list[LimitCheck]
    would_fire: bool
    effects: list[PlannedEffect]


@dataclass(frozen=True)
class Simulation:
    user_id: str
    resolved_user_id: str | None
    unknown_users: str
    campaigns: list[CampaignOutcome]

    @property
    def would_fire(self) -> list[str]:
        return [c.campaign_id for c in self.campaigns if c.would_fire]


async def simulate(
    engine: AsyncEngine,
    org_id: str,
    action: ActionRequest,
    campaign_ids: list[str] | None,
    sees_users: bool,
    parsed: campaigns.Parsed | None = None,
) -> Simulation:
    """The action against ``campaign_ids`` (drafts too), or the active campaigns on it.

    A caller that may not read users simulates without them: the action's user is not looked
    up (whether it exists, its facts and its per-user counters would tell who is a user), user
    conditions see nothing, and the firing is judged as if the user existed.
    """
    now = datetime.now(UTC)
    source = action.metadata.get("source")
    async with engine.connect() as conn:
        found = await users.resolve(
            conn, org_id, action.user_id, source if isinstance(source, str) else None
        )
        if campaign_ids is not None:
            chosen = await campaigns.current_versions(conn, org_id, campaign_ids, parsed)
        else:
            chosen = await campaigns.in_force(conn, org_id, action.action, parsed)
        settings = found.settings
        known = found.user if sees_users else None
        exists = not sees_users or known is not None or enrollable(action.user_id, settings)
        user = known or {"id": action.user_id, "email": None, "phone": None}
        probe = ActionInput(
            event_id=SIMULATED_EVENT,
            org_id=org_id,
            user_id=action.user_id,
            action=action.action,
            timestamp=action.timestamp or now,
            data=action.data,
            metadata=action.metadata,
            accepted_at=now,
        )
        context = {"data": action.data, "metadata": action.metadata, "user": user}
        outcomes = []
        for version in chosen:
            draft = judge(probe, user, [version], settings)
            moment = draft.judged_at or now
            explanation = explain(version.definition, action.action, moment, context)
            holder = None if known is None else str(known["id"])
            points = points_of(draft.effects)
            checks = await _limits(conn, org_id, version, holder, settings.zone, now, points)
            outcomes.append(
                CampaignOutcome(
                    campaign_id=version.campaign_id,
                    version=version.version,
                    name=version.definition.name,
                    explanation=explanation,
                    limits=checks,
                    would_fire=explanation.matched
                    and exists
                    and not any(c.would_block for c in checks),
                    effects=draft.effects if explanation.matched else [],
                )
            )
    return Simulation(
        user_id=action.user_id,
        resolved_user_id=None if known is None else str(known["id"]),
        unknown_users=settings.unknown_users,
        campaigns=outcomes,
    )


async def _limits(
    conn: AsyncConnection,
    org_id: str,
    version: CampaignVersion,
    user_id: str | None,
    zone: tzinfo,
    now: datetime,
    points: Decimal,
) -> list[LimitCheck]:
    """Each counter the firing would take, as it stands now (per-user ones only for a user
    the caller may see: ``user_id`` None)."""
    rules = version.definition.limits
    if rules is None:
        return []
    taken = [c for c in counters(rules, now, zone) if user_id is not None or c.kind == "total"]
    holder = user_id or ""
    named = [c.scope(holder) for c in taken]
    used = await limits.usage(conn, org_id, version.campaign_id, named) if named else {}
    checks = []
    for counter, scope in zip(taken, named, strict=True):
        count, spent = used.get(scope, (0, Decimal(0)))
        checks.append(
            LimitCheck(
                limit=counter.reason,
                scope=scope,
                count=count,
                max_count=counter.max_count,
                points=spent,
                points_budget=counter.max_points,
                would_block=not counter.admits(count, spent, points),
            )
        )
    return checks
