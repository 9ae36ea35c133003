"""Accepted events: the outbox the workflows are started from, and their recorded outcomes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, func, null, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.actions import ActionInput, ActionRequest, EventStatus
from src.domain.effects import ActionPlan
from src.store.tables import EffectResult, Event


def new_event_id() -> str:
    return f"evt_{uuid.uuid4()}"


# One statement text for any batch size (arrays, not N value lists), so it is prepared once.
_INSERT_EVENTS = text(
    """
    INSERT INTO events (id, org_id, user_id, action, occurred_at, data, metadata,
                        idempotency_key, fingerprint, status)
    SELECT e.id, CAST(:org_id AS uuid), e.user_id, e.action, e.occurred_at, e.data::jsonb,
           e.metadata::jsonb, e.idempotency_key, e.fingerprint, 'queued'
    FROM unnest(CAST(:id AS text[]), CAST(:user_id AS text[]), CAST(:action AS text[]),
                CAST(:occurred_at AS timestamptz[]), CAST(:data AS text[]),
                CAST(:metadata AS text[]), CAST(:idempotency_key AS text[]),
                CAST(:fingerprint AS text[]))
         AS e(id, user_id, action, occurred_at, data, metadata, idempotency_key, fingerprint)
    ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
    """
)


@dataclass(frozen=True)
class Accepted:
    event_id: str
    conflict: bool  # the key was used before with a different body


async def accept_many(
    conn: AsyncConnection,
    org_id: str,
    items: Sequence[tuple[ActionRequest, str | None]],
    now: datetime,
) -> list[Accepted]:
    """Insert events in one statement; an idempotency key already used maps to its event.

    Each item is (request, idempotency key); results come back in the same order.
    """
    rows: list[dict[str, Any]] = [
        {
            "id": new_event_id(),
            "user_id": request.userId,
            "action": request.action,
            "occurred_at": request.timestamp or now,
            "data": json.dumps(request.data),
            "metadata": json.dumps(request.metadata),
            "idempotency_key": key,
            "fingerprint": request.fingerprint(),
        }
        for request, key in items
    ]
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    created = set(await conn.scalars(_INSERT_EVENTS, {"org_id": org_id, **columns}))
    reused = {r["idempotency_key"] for r in rows if r["id"] not in created}
    earlier: dict[str, tuple[str, str]] = {}
    if reused:
        found = await conn.execute(
            select(Event.idempotency_key, Event.id, Event.fingerprint).where(
                Event.org_id == org_id, Event.idempotency_key.in_(reused)
            )
        )
        earlier = {r.idempotency_key: (r.id, r.fingerprint) for r in found}
    results = []
    for row in rows:
        if row["id"] in created:
            results.append(Accepted(row["id"], conflict=False))
        else:
            event_id, fingerprint = earlier[row["idempotency_key"]]
            results.append(Accepted(event_id, conflict=fingerprint != row["fingerprint"]))
    return results


def to_input(row: Row[Any]) -> ActionInput:
    return ActionInput(
        event_id=row.id,
        org_id=str(row.org_id),
        user_id=row.user_id,
        action=row.action,
        timestamp=row.occurred_at,
        data=row.data,
        metadata=row.metadata,
    )


async def claim_unstarted(conn: AsyncConnection, limit: int) -> list[ActionInput]:
    """Lock up to ``limit`` accepted events whose workflow is not started, oldest first.

    SKIP LOCKED lets any number of relays claim disjoint batches.
    """
    rows = (
        await conn.execute(
            select(Event)
            .where(Event.started_at.is_(None))
            .order_by(Event.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    return [to_input(r) for r in rows]


async def mark_started(conn: AsyncConnection, event_ids: list[str]) -> None:
    if event_ids:
        await conn.execute(
            update(Event).where(Event.id.in_(event_ids)).values(started_at=func.now())
        )


async def mark_rejected(conn: AsyncConnection, event_id: str, reason: str) -> None:
    """Temporal refused this event's start for good: fail it and take it out of the outbox."""
    await conn.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(
            started_at=func.now(),
            status=EventStatus.failed,
            reason=f"start_rejected: {reason}"[:500],
            updated_at=func.now(),
        )
    )


async def lock_for_replay(
    conn: AsyncConnection, org_id: str, event_id: str
) -> tuple[ActionInput, str] | None:
    row = (
        await conn.execute(
            select(Event).where(Event.org_id == org_id, Event.id == event_id).with_for_update()
        )
    ).first()
    return None if row is None else (to_input(row), row.status)


async def requeue(conn: AsyncConnection, event_id: str) -> None:
    """Queue a finished event for a new run. A skipped event is judged afresh (its user may
    exist now); any other reuses its plan, so its grants keep their keys."""
    await conn.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(
            status=EventStatus.queued,
            reason=None,
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
    """
    UPDATE events SET status = :status, reason = :reason, updated_at = now()
    WHERE id = :event_id AND status = 'queued'
    """
)
_LOCK_PLAN = text("SELECT plan FROM events WHERE id = :event_id FOR UPDATE")


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


async def describe(conn: AsyncConnection, org_id: str, event_id: str) -> dict[str, Any] | None:
    """The event as ``GET /api/audience/internal/actions/{eventId}`` shows it."""
    event = (
        await conn.execute(select(Event).where(Event.org_id == org_id, Event.id == event_id))
    ).first()
    if event is None:
        return None
    results = {
        r.key: r
        for r in (
            await conn.execute(select(EffectResult).where(EffectResult.event_id == event_id))
        ).all()
    }
    plan = ActionPlan.model_validate(event.plan) if event.plan else None
    effects = []
    for effect in plan.effects if plan else []:
        result = results.get(effect.key)
        effects.append(
            {
                "key": effect.key,
                "campaignId": effect.campaign_id,
                "campaignVersion": effect.campaign_version,
                "effectIndex": effect.effect_index,
                "type": effect.type,
                "status": result.status if result else "pending",
                "reason": result.reason if result else None,
                "transactionId": f"txn_{result.transaction_id}"
                if result and result.transaction_id
                else None,
            }
        )
    return {
        "eventId": event.id,
        "workflowId": event.id,
        "status": event.status,
        "reason": event.reason,
        "userId": event.user_id,
        "resolvedUserId": event.resolved_user_id,
        "action": event.action,
        "timestamp": event.occurred_at.isoformat(),
        "data": event.data,
        "metadata": event.metadata,
        "matchedCampaigns": list(event.campaign_ids or []),
        "limitedCampaigns": [
            {"campaignId": c.campaign_id, "reason": c.reason}
            for c in (plan.limited if plan else [])
        ],
        "effects": effects,
        "createdAt": event.created_at.isoformat(),
        "updatedAt": event.updated_at.isoformat(),
    }
