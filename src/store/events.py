"""Accepted events: the outbox the workflows are started from, and their recorded outcomes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.actions import ActionInput, ActionRequest, EventStatus
from src.domain.effects import ActionPlan
from src.store.tables import EffectResult, Event


def new_event_id() -> str:
    return f"evt_{uuid.uuid4()}"


async def accept(
    conn: AsyncConnection,
    org_id: str,
    request: ActionRequest,
    idempotency_key: str | None,
    now: datetime,
) -> tuple[str, bool, str]:
    """Insert the event, or find the one already accepted under the same idempotency key.

    Returns the event ID, whether this call created it, and the stored body fingerprint.
    """
    event_id = new_event_id()
    created = await conn.scalar(
        insert(Event)
        .values(
            id=event_id,
            org_id=org_id,
            user_id=request.userId,
            action=request.action,
            occurred_at=request.timestamp or now,
            data=request.data,
            meta=request.metadata,
            idempotency_key=idempotency_key,
            fingerprint=request.fingerprint(),
            status=EventStatus.queued,
        )
        .on_conflict_do_nothing(
            index_elements=[Event.org_id, Event.idempotency_key],
            index_where=Event.idempotency_key.is_not(None),
        )
        .returning(Event.id)
    )
    if created is not None:
        return event_id, True, request.fingerprint()
    row = (
        await conn.execute(
            select(Event.id, Event.fingerprint).where(
                Event.org_id == org_id, Event.idempotency_key == idempotency_key
            )
        )
    ).one()
    return row.id, False, row.fingerprint


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


async def stored_plan(conn: AsyncConnection, event_id: str) -> ActionPlan | None:
    """The plan an earlier run made, so a reset or replay judges the action as it was first
    judged (same campaign versions); a skipped event has none and is planned afresh."""
    plan = await conn.scalar(select(Event.plan).where(Event.id == event_id))
    return ActionPlan.model_validate(plan) if plan else None


async def save_plan(conn: AsyncConnection, event_id: str, plan: ActionPlan) -> None:
    await conn.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(
            status=plan.status,
            reason=plan.reason,
            resolved_user_id=plan.user_id,
            campaign_ids=plan.campaign_ids,
            planned_effects=len(plan.effects),
            plan=None if plan.status == "skipped" else plan.model_dump(mode="json"),
            updated_at=func.now(),
        )
    )


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
        "effects": effects,
        "createdAt": event.created_at.isoformat(),
        "updatedAt": event.updated_at.isoformat(),
    }
