"""Everything the plan activity reads, in one round trip: the event's stored plan, the org's
settings, the resolved user and the active campaigns on the action."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.actions import ActionInput
from src.domain.effects import ActionPlan
from src.store.campaigns import ACTIVE_ON_ACTION_SQL
from src.store.users import RESOLVE_SQL, Resolution, resolution, resolve_params

_CONTEXT = text(
    f"""
    WITH event AS (SELECT plan FROM events WHERE id = :event_id),
         active AS ({ACTIVE_ON_ACTION_SQL})
    SELECT (SELECT plan FROM event) AS plan,
           ARRAY(SELECT id FROM active) AS campaign_ids,
           ARRAY(SELECT version FROM active) AS campaign_versions,
           resolved.*
    FROM ({RESOLVE_SQL}) AS resolved
    """
)


@dataclass(frozen=True)
class PlanContext:
    stored: ActionPlan | None
    found: Resolution
    active: list[tuple[str, int]]


async def load(conn: AsyncConnection, action: ActionInput, source: str | None) -> PlanContext:
    """A plain read, no lock: the plan is stored only if none is (see ``plans.save_plan``)."""
    row = (
        await conn.execute(
            _CONTEXT,
            {
                **resolve_params(action.org_id, action.user_id, source),
                "event_id": action.event_id,
                "action": action.action,
            },
        )
    ).one()
    return PlanContext(
        stored=ActionPlan.model_validate(row.plan) if row.plan else None,
        found=resolution(row),
        active=list(zip(row.campaign_ids, row.campaign_versions, strict=True)),
    )
