"""What the reconciler and replays read and change: unsettled events to fail or restart, and an
event's state under its row lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, null, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.actions import UNSETTLED, ActionInput, EventStatus
from src.store.events import to_input
from src.store.literals import UNSETTLED_SQL
from src.store.tables import EffectResult, Event


async def fail_unsettled(conn: AsyncConnection, event_id: str, reason: str) -> None:
    """Processing gave up: an unsettled event ends failed, replayable (its stored plan, if
    any, stays for the replay)."""
    await conn.execute(
        update(Event)
        .where(Event.id == event_id, Event.status.in_(UNSETTLED))
        .values(status=EventStatus.failed, reason=reason, updated_at=func.now())
    )


async def stale_in_flight(
    conn: AsyncConnection, older_than: float, limit: int
) -> list[tuple[str, str]]:
    """(org ID, event ID) of started events still unsettled ``older_than`` seconds after their
    start and after the reconciler's last look, longest unchecked first; marked checked now."""
    rows = await conn.execute(
        text(
            f"""
                UPDATE events SET checked_at = now() WHERE id IN (
                    SELECT id FROM events
                    WHERE started_at IS NOT NULL
                      AND status IN ({UNSETTLED_SQL})
                      AND started_at < now() - make_interval(secs => :age)
                      AND (checked_at IS NULL OR checked_at < now() - make_interval(secs => :age))
                    ORDER BY COALESCE(checked_at, started_at) LIMIT :limit
                    FOR UPDATE SKIP LOCKED)
                RETURNING org_id, id
                """
        ),
        {"age": older_than, "limit": limit},
    )
    return [(str(r.org_id), r.id) for r in rows]


async def replay_state(
    conn: AsyncConnection, org_id: str, event_id: str
) -> tuple[str, bool] | None:
    """(status, whether the relay has started its workflow) of one of the org's events."""
    row = (
        await conn.execute(
            select(Event.status, Event.started_at.is_not(None).label("started")).where(
                Event.org_id == org_id, Event.id == event_id
            )
        )
    ).first()
    return None if row is None else (row.status, bool(row.started))


@dataclass(frozen=True)
class Locked:
    action: ActionInput
    status: str
    restarts: int  # runs the reconciler started since the last replay


async def lock_for_replay(conn: AsyncConnection, org_id: str, event_id: str) -> Locked | None:
    row = (
        await conn.execute(
            select(Event).where(Event.org_id == org_id, Event.id == event_id).with_for_update()
        )
    ).first()
    return None if row is None else Locked(to_input(row), row.status, row.restarts)


async def requeue(conn: AsyncConnection, event_id: str, restart: bool = False) -> None:
    """Queue an event for a new run, started now: a reconciler's ``restart`` (counted), or an
    operator's replay (the count starts again). A skipped event is judged afresh (its user
    may exist now); any other reuses its plan, so its grants keep their keys. Failed outcomes
    are forgotten (those effects are pending again), so the event cannot settle on them
    before the new run has tried."""
    await conn.execute(
        delete(EffectResult).where(
            EffectResult.event_id == event_id, EffectResult.status == "failed"
        )
    )
    await conn.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(
            status=EventStatus.queued,
            reason=None,
            started_at=func.now(),
            restarts=Event.restarts + 1 if restart else 0,
            plan=case((Event.status == EventStatus.skipped, null()), else_=Event.plan),
            updated_at=func.now(),
        )
    )


async def find_for_replay(
    conn: AsyncConnection,
    status: str,
    since: datetime | None,
    action: str | None,
    org_id: str | None,
) -> list[tuple[str, str]]:
    """(org ID, event ID) of finished events matching the CLI's filters, oldest first."""
    query = select(Event.org_id, Event.id).where(Event.status == status).order_by(Event.created_at)
    if since is not None:
        query = query.where(Event.created_at >= since)
    if action is not None:
        query = query.where(Event.action == action)
    if org_id is not None:
        query = query.where(Event.org_id == org_id)
    return [(str(r.org_id), r.id) for r in await conn.execute(query)]
