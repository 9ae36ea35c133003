"""The outbox's relay side: claiming accepted, unstarted events fairly across orgs, marking
them started, and backing off a start that failed."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain import errors
from src.domain.actions import ActionInput, EventStatus
from src.store.events import to_input
from src.store.literals import FAILED, IN_FLIGHT_SQL
from src.store.tables import Event

# One relay claims at a time, so the per-org and global windows it computes hold exactly.
# Waiting refund actions are not counted: their runs sleep on timers, and the purchases they
# wait for must be able to start.
_RELAY_LOCK = 7_243_002
_IN_FLIGHT = text(
    f"""
    SELECT org_id, count(*) AS n FROM events
    WHERE started_at IS NOT NULL AND status IN ({IN_FLIGHT_SQL})
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
    f"""
    UPDATE events SET
        start_failures = start_failures + 1,
        start_rejections = start_rejections + CASE WHEN :rejected THEN 1 ELSE 0 END,
        start_error = :error,
        start_after = now() + make_interval(secs => LEAST(:max_backoff,
            :first_backoff * power(2, LEAST(start_failures, 16)))),
        started_at = CASE WHEN :rejected AND start_rejections + 1 >= :cap
                          THEN now() ELSE started_at END,
        status = CASE WHEN :rejected AND start_rejections + 1 >= :cap
                      THEN {FAILED} ELSE status END,
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
