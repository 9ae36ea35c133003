"""Accepted events: the outbox the workflows are started from, and their recorded outcomes."""

from __future__ import annotations

import heapq
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, delete, func, null, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain import errors
from src.domain.actions import ActionInput, ActionRequest, EventStatus
from src.domain.effects import ActionPlan
from src.domain.events import EffectView, EventView
from src.store.tables import EffectResult, Event

UNSETTLED = (EventStatus.queued, EventStatus.processing, EventStatus.waiting)


def new_event_id() -> str:
    return f"evt_{uuid.uuid4()}"


# One statement text for any batch size (arrays, not N value lists), so it is prepared once.
_INSERT_EVENTS = text(
    """
    INSERT INTO events (id, org_id, user_id, action, occurred_at, data, metadata,
                        idempotency_key, fingerprint, status, trace_parent, key_lineage)
    SELECT e.id, CAST(:org_id AS uuid), e.user_id, e.action, e.occurred_at, e.data::jsonb,
           e.metadata::jsonb, e.idempotency_key, e.fingerprint, 'queued',
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


# One relay claims at a time, so the per-org and global windows it computes hold exactly.
# Waiting refund actions are not counted: their runs sleep on timers, and the purchases they
# wait for must be able to start.
_RELAY_LOCK = 7_243_002
_IN_FLIGHT = text(
    """
    SELECT org_id, count(*) AS n FROM events
    WHERE started_at IS NOT NULL AND status IN ('queued', 'processing')
    GROUP BY org_id
    """
)
# Orgs with events due to start, in org ID order from ``after`` (wrapping round), but those
# whose window is full: a loose index scan, one probe per org however long its backlog
# (evaluated lazily, so it stops once ``limit`` orgs are found).
_DUE = "started_at IS NULL AND (start_after IS NULL OR start_after <= now())"
_WAITING_ORGS = text(
    f"""
    WITH RECURSIVE waiting(org_id) AS (
        (SELECT org_id FROM events WHERE {_DUE} AND org_id > CAST(:after AS uuid)
         ORDER BY org_id LIMIT 1)
        UNION ALL
        SELECT (SELECT e.org_id FROM events e
                WHERE {_DUE} AND e.org_id > w.org_id ORDER BY e.org_id LIMIT 1)
        FROM waiting w WHERE w.org_id IS NOT NULL
    )
    SELECT org_id FROM waiting
    WHERE org_id IS NOT NULL AND org_id <> ALL(CAST(:full AS uuid[]))
    LIMIT :limit
    """
)
# Each chosen org's oldest due events, as many as its share.
_CLAIM = text(
    """
    SELECT e.* FROM unnest(CAST(:orgs AS uuid[]), CAST(:shares AS integer[])) AS w(org_id, n)
    CROSS JOIN LATERAL (
        SELECT * FROM events e
        WHERE e.org_id = w.org_id AND e.started_at IS NULL
          AND (e.start_after IS NULL OR e.start_after <= now())
        ORDER BY e.created_at LIMIT w.n
        FOR UPDATE SKIP LOCKED
    ) e
    """
)
_NO_ORG = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Window:
    """How much the relay lets into Temporal: per org, in all, and per pass."""

    per_org: int
    total: int
    batch: int


@dataclass(frozen=True)
class Claim:
    actions: list[ActionInput]
    after: str | None  # the last org served: the next pass starts after it
    trace_parents: dict[str, str] = field(default_factory=dict)  # event ID -> its trace


async def claim_fair(conn: AsyncConnection, window: Window, after: str | None) -> Claim:
    """Lock accepted, unstarted events for one relay pass, fairly across orgs; nothing while
    another relay holds the claim.

    Free room in the window is dealt one event at a time to the waiting org with the fewest
    events in flight, orgs taken round-robin from ``after``; a backlog waits here, in
    PostgreSQL, not in Temporal's task queue.
    """
    if not await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _RELAY_LOCK}):
        return Claim([], after)
    busy = {str(r.org_id): int(r.n) for r in await conn.execute(_IN_FLIGHT)}
    room = min(window.total - sum(busy.values()), window.batch)
    if room <= 0:
        return Claim([], after)
    full = [org for org, n in busy.items() if n >= window.per_org]
    params = {"after": after or _NO_ORG, "limit": room, "full": full}
    waiting = [str(o) for o in await conn.scalars(_WAITING_ORGS, params)]
    if len(waiting) < room and after:  # wrap round to the orgs before the cursor
        wrapped = await conn.scalars(_WAITING_ORGS, {**params, "after": _NO_ORG})
        waiting += [o for o in map(str, wrapped) if o not in waiting]
    shares = deal(room, window.per_org, {org: busy.get(org, 0) for org in waiting})
    if not shares:
        return Claim([], after)
    rows = (
        await conn.execute(_CLAIM, {"orgs": list(shares), "shares": list(shares.values())})
    ).all()
    traced = {r.id: r.trace_parent for r in rows if r.trace_parent}
    return Claim([to_input(r) for r in rows], waiting[-1], traced)


def deal(room: int, per_org: int, busy: dict[str, int]) -> dict[str, int]:
    """Share ``room`` among orgs (in their given order) one slot at a time, always to the org
    with the fewest in flight, none beyond ``per_org``."""
    heap = [(n, i, org) for i, (org, n) in enumerate(busy.items()) if n < per_org]
    heapq.heapify(heap)
    shares: dict[str, int] = {}
    while room and heap:
        n, i, org = heapq.heappop(heap)
        shares[org] = shares.get(org, 0) + 1
        room -= 1
        if n + 1 < per_org:
            heapq.heappush(heap, (n + 1, i, org))
    return {org: shares[org] for org in busy if org in shares}


async def mark_started(conn: AsyncConnection, event_ids: list[str]) -> None:
    if event_ids:
        await conn.execute(
            update(Event)
            .where(Event.id.in_(event_ids))
            .values(started_at=func.now(), start_after=None, start_error=None)
        )


_START_FAILED = text(
    """
    UPDATE events SET
        start_failures = start_failures + 1,
        start_rejections = start_rejections + CASE WHEN :rejected THEN 1 ELSE 0 END,
        start_error = :error,
        start_after = now() + make_interval(secs => LEAST(:max_backoff,
            :first_backoff * power(2, LEAST(start_failures, 16)))),
        started_at = CASE WHEN :rejected AND start_rejections + 1 >= :cap
                          THEN now() ELSE started_at END,
        status = CASE WHEN :rejected AND start_rejections + 1 >= :cap
                      THEN 'failed' ELSE status END,
        reason = CASE WHEN :rejected AND start_rejections + 1 >= :cap
                      THEN :reason ELSE reason END,
        updated_at = now()
    WHERE id = :event_id
    RETURNING status
    """
)


@dataclass(frozen=True)
class StartRetry:
    """How the relay retries one event's start: backoff doubles from ``first`` to ``most``
    seconds; ``cap`` rejections that no retry can change fail the event."""

    first: float
    most: float
    cap: int


async def start_failed(
    conn: AsyncConnection, event_id: str, error: str, rejected: bool, retry: StartRetry
) -> bool:
    """Back this one event off; True when its rejections reached the cap and it is failed
    (reason ``start_rejected: …``), out of the outbox."""
    status = await conn.scalar(
        _START_FAILED,
        {
            "event_id": event_id,
            "error": error[:1000],
            "rejected": rejected,
            "cap": retry.cap,
            "first_backoff": retry.first,
            "max_backoff": retry.most,
            "reason": f"{errors.START_REJECTED}: {error}"[:500],
        },
    )
    return bool(status == EventStatus.failed)


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
            """
                UPDATE events SET checked_at = now() WHERE id IN (
                    SELECT id FROM events
                    WHERE started_at IS NOT NULL
                      AND status IN ('queued', 'processing', 'waiting')
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


_WAIT = text(
    """
    UPDATE events SET status = 'waiting', reason = :reason, updated_at = now()
    WHERE id = :event_id AND plan IS NULL AND status IN ('queued', 'processing', 'waiting')
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
                transaction_id=f"txn_{result.transaction_id}"
                if result and result.transaction_id
                else None,
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
