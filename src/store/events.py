"""Accepted events: acceptance (the outbox's rows) and the read model of an event and its
outcomes. The outbox's relay claims them in ``store.outbox``; plans are ``store.plans``; the
reconciler's and replay's look-ups are ``store.recovery``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.actions import ActionInput, ActionRequest
from src.domain.effects import ActionPlan
from src.domain.events import EffectView, EventView
from src.store.literals import QUEUED
from src.store.tables import EffectResult, Event


def new_event_id() -> str:
    return f"evt_{uuid.uuid4()}"


# One statement text for any batch size (arrays, not N value lists), so it is prepared once.
_INSERT_EVENTS = text(
    f"""
    INSERT INTO events (id, org_id, user_id, action, occurred_at, data, metadata,
                        idempotency_key, fingerprint, status, trace_parent, key_lineage)
    SELECT e.id, CAST(:org_id AS uuid), e.user_id, e.action, e.occurred_at, e.data::jsonb,
           e.metadata::jsonb, e.idempotency_key, e.fingerprint, {QUEUED},
           CAST(:trace_parent AS text), CAST(:key_lineage AS text)
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
    trace_parent: str | None = None,
    key_lineage: str | None = None,
) -> list[Accepted]:
    """Insert events in one statement; an idempotency key already used maps to its event.

    Each item is (request, idempotency key); results come back in the same order.
    ``key_lineage`` is the posting key's (``ApiKey.lineage``).
    """
    rows: list[dict[str, Any]] = [
        {
            "id": new_event_id(),
            "user_id": request.user_id,
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
    params: dict[str, Any] = {"org_id": org_id, "trace_parent": trace_parent}
    params |= {"key_lineage": key_lineage, **columns}
    created = set(await conn.scalars(_INSERT_EVENTS, params))
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
        accepted_at=row.created_at,
    )


async def describe(conn: AsyncConnection, org_id: str, event_id: str) -> EventView | None:
    """The event with each planned effect's outcome (``pending`` until it is applied)."""
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
            EffectView(
                key=effect.key,
                campaign_id=effect.campaign_id,
                campaign_version=effect.campaign_version,
                effect_index=effect.effect_index,
                type=effect.type,
                status=result.status if result else "pending",
                reason=result.reason if result else None,
                transaction_id=result.transaction_id if result else None,
            )
        )
    return EventView(
        event_id=event.id,
        status=event.status,
        reason=event.reason,
        user_id=event.user_id,
        resolved_user_id=event.resolved_user_id,
        action=event.action,
        timestamp=event.occurred_at,
        accepted_at=event.created_at,
        judged_at=plan.judged_at if plan else None,
        data=event.data,
        metadata=event.metadata,
        matched_campaigns=list(event.campaign_ids or []),
        limited_campaigns=list(plan.limited) if plan else [],
        effects=effects,
        updated_at=event.updated_at,
    )
