"""An event's stored plan: saved once, reused by every retry, reset for a replay."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.effects import ActionPlan
from src.store.literals import QUEUED, UNSETTLED_SQL, WAITING

# Text, not an ORM update: the plan is serialised by pydantic-core straight to JSON. Only the
# first plan is stored: a stale attempt finishing late can never replace it.
_SAVE_PLAN = text(
    """
    UPDATE events SET status = :status, reason = :reason, resolved_user_id = :user_id,
        campaign_ids = CAST(:campaign_ids AS text[]), planned_effects = :planned,
        plan = CAST(CAST(:plan AS text) AS jsonb), updated_at = now()
    WHERE id = :event_id AND plan IS NULL
    """
)
_REOPEN = text(
    f"""
    UPDATE events SET status = :status, reason = :reason, updated_at = now()
    WHERE id = :event_id AND status = {QUEUED}
    """
)
_LOCK_PLAN = text("SELECT plan FROM events WHERE id = :event_id FOR UPDATE")


_WAIT = text(
    f"""
    UPDATE events SET status = {WAITING}, reason = :reason, updated_at = now()
    WHERE id = :event_id AND plan IS NULL AND status IN ({UNSETTLED_SQL})
    """
)


async def wait(conn: AsyncConnection, event_id: str, reason: str) -> None:
    """The event waits for another to settle: out of the relay's window until it is planned."""
    await conn.execute(_WAIT, {"event_id": event_id, "reason": reason})


async def save_plan(conn: AsyncConnection, event_id: str, plan: ActionPlan) -> bool:
    """Store the plan unless one is stored already (then False)."""
    result = await conn.execute(
        _SAVE_PLAN,
        {
            "event_id": event_id,
            "status": plan.status,
            "reason": plan.reason,
            "user_id": plan.user_id,
            "campaign_ids": plan.campaign_ids,
            "planned": len(plan.effects),
            "plan": plan.model_dump_json(),
        },
    )
    return bool(result.rowcount)


async def reopen(conn: AsyncConnection, event_id: str, plan: ActionPlan) -> None:
    """A replay reusing the stored plan shows it again; a settled event stays settled when a
    stale attempt of a finished run reuses it."""
    await conn.execute(
        _REOPEN, {"event_id": event_id, "status": plan.status, "reason": plan.reason}
    )


async def lock_plan(conn: AsyncConnection, event_id: str) -> ActionPlan | None:
    """The stored plan, row locked: a retry overlapping a slow attempt waits, then reuses it."""
    stored = await conn.scalar(_LOCK_PLAN, {"event_id": event_id})
    return None if stored is None else ActionPlan.model_validate(stored)
