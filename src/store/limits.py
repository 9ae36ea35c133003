"""Atomic limit reservations: one row per limited firing, and a conditional upsert per counter.

A firing reserves one unit (and its points) on every counter of its campaign, all or none, and
records that in its reservation row (``eventId:campaignId:version``). A firing whose every
effect failed for good gives its unit back; the row's state makes each step happen once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.effects import firing_key
from src.domain.limits import PERIOD_SCOPE_PREFIX, Counter, Reservation, user_scope
from src.store.tables import EffectResult, LimitReservation

_COUNTERS = TypeAdapter(list[Counter])

# The counter, created at zero if new, locked for this transaction: (count, points).
_LOCK = text(
    """
    INSERT INTO campaign_counters (org_id, campaign_id, scope, count, points)
    VALUES (:org_id, :campaign_id, :scope, 0, 0)
    ON CONFLICT (org_id, campaign_id, scope) DO UPDATE SET count = campaign_counters.count
    RETURNING count AS used, points
    """
)
_ADD = text(
    """
    UPDATE campaign_counters SET count = count + 1, points = points + :points
    WHERE org_id = :org_id AND campaign_id = :campaign_id AND scope = :scope
    """
)
_GIVE_BACK = text(
    """
    UPDATE campaign_counters SET count = count - 1, points = points - :points
    WHERE org_id = :org_id AND campaign_id = :campaign_id AND scope = :scope
    """
)


@dataclass(frozen=True)
class Firing:
    """One campaign's firing in one event, as far as its limits care."""

    org_id: str
    event_id: str
    campaign_id: str
    version: int
    effects: int
    points: Decimal

    @property
    def key(self) -> str:
        return firing_key(self.event_id, self.campaign_id, self.version)


async def _take(
    conn: AsyncConnection,
    org_id: str,
    campaign_id: str,
    holder: str,
    counters: list[Counter],
    points: Decimal,
) -> str | None:
    """One unit on every counter, or none: returns the refusing limit's name.

    Each counter is locked (in the counters' fixed order) and judged by ``Counter.admits``,
    so concurrent firings queue on it and a limit is never exceeded.
    """
    async with conn.begin_nested() as savepoint:
        for counter in counters:
            where = {"org_id": org_id, "campaign_id": campaign_id, "scope": counter.scope(holder)}
            held = (await conn.execute(_LOCK, where)).one()
            if not counter.admits(held.used, held.points, points):
                await savepoint.rollback()
                return counter.reason
            await conn.execute(_ADD, {**where, "points": points})
    return None


async def reserve(
    conn: AsyncConnection, firing: Firing, holder: str, counters: list[Counter]
) -> str | None:
    """Reserve the firing for ``holder`` (the reservation row records it), or return the name
    of the limit that refuses it."""
    refused = await _take(conn, firing.org_id, firing.campaign_id, holder, counters, firing.points)
    if refused is None:
        await conn.execute(
            insert(LimitReservation).values(
                key=firing.key,
                org_id=firing.org_id,
                event_id=firing.event_id,
                campaign_id=firing.campaign_id,
                user_id=holder,
                counters=_COUNTERS.dump_python(counters, mode="json"),
                points=firing.points,
                effects=firing.effects,
                state=Reservation.reserved,
            )
        )
    return refused


async def _locked(conn: AsyncConnection, key: str) -> Any:
    return (
        await conn.execute(
            select(LimitReservation).where(LimitReservation.key == key).with_for_update()
        )
    ).first()


async def _set_state(conn: AsyncConnection, key: str, state: str) -> None:
    await conn.execute(
        update(LimitReservation)
        .where(LimitReservation.key == key)
        .values(state=state, updated_at=func.now())
    )


async def hold_for_grant(conn: AsyncConnection, key: str) -> str | None:
    """Before one of a limited firing's effects is granted: make sure the firing holds its
    reservation. A firing released because its effects failed reserves again (a replay); the
    refusing limit's name is returned when it no longer fits."""
    row = await _locked(conn, key)
    if row is None or row.state != Reservation.released:  # reserved, or reversed for good
        return None
    counters = _COUNTERS.validate_python(row.counters)
    refused = await _take(conn, str(row.org_id), row.campaign_id, row.user_id, counters, row.points)
    if refused is None:
        await _set_state(conn, key, Reservation.reserved)
    return refused


async def release_if_failed(
    conn: AsyncConnection, event_id: str, campaign_id: str, version: int
) -> None:
    """After one of a limited firing's effects failed for good: once all of them have, the
    firing gives its unit (and points) back. Runs in the transaction that records the failure,
    so no crash can separate the two, and the row's state makes a retry a no-op."""
    key = firing_key(event_id, campaign_id, version)
    row = await _locked(conn, key)
    if row is None or row.state != Reservation.reserved:
        return
    failed = await conn.scalar(
        select(func.count()).where(
            EffectResult.event_id == event_id,
            EffectResult.campaign_id == campaign_id,
            EffectResult.campaign_version == version,
            EffectResult.status == "failed",
        )
    )
    if (failed or 0) < row.effects:
        return
    await _give_back(conn, row, Reservation.released)


async def _give_back(conn: AsyncConnection, row: Any, state: str) -> None:
    """The firing's unit and points back to each of its counters; the row records why."""
    for counter in _COUNTERS.validate_python(row.counters):  # in the order reservations lock
        await conn.execute(
            _GIVE_BACK,
            {
                "org_id": row.org_id,
                "campaign_id": row.campaign_id,
                "scope": counter.scope(row.user_id),
                "points": row.points,
            },
        )
    await _set_state(conn, row.key, state)


async def release_reversed(conn: AsyncConnection, event_id: str) -> int:
    """The event was reversed in full: each firing still holding its reservation gives it
    back, once (state ``reversed``, never reserved again: a reversed event is not replayed).
    Returns the firings released."""
    rows = (
        await conn.execute(
            select(LimitReservation)
            .where(
                LimitReservation.event_id == event_id,
                LimitReservation.state == Reservation.reserved,
            )
            .order_by(LimitReservation.key)
            .with_for_update()
        )
    ).all()
    for row in rows:
        await _give_back(conn, row, Reservation.reversed)
    return len(rows)


async def usage(
    conn: AsyncConnection, org_id: str, campaign_id: str, scopes: list[str]
) -> dict[str, tuple[int, Decimal]]:
    """Current (count, points) of each counter scope; read-only, for simulations."""
    rows = await conn.execute(
        text(
            "SELECT scope, count AS used, points FROM campaign_counters "
            "WHERE org_id = :org AND campaign_id = :cid AND scope = ANY(:scopes)"
        ),
        {"org": org_id, "cid": campaign_id, "scopes": scopes},
    )
    return {r.scope: (r.used, r.points) for r in rows}


_MOVE_USER = text(
    """
    WITH moved AS (
        DELETE FROM campaign_counters
        WHERE org_id = :org_id AND (scope = :lifetime OR (
            scope ~ :prefix AND substr(scope, length(substring(scope FROM :prefix)) + 1) = :source))
        RETURNING campaign_id, scope, count, points
    )
    INSERT INTO campaign_counters (org_id, campaign_id, scope, count, points)
    SELECT :org_id, campaign_id,
           CASE WHEN scope = :lifetime THEN :target_lifetime
                ELSE substring(scope FROM :prefix) || :target END,
           count, points
    FROM moved
    ON CONFLICT (org_id, campaign_id, scope) DO UPDATE
    SET count = campaign_counters.count + EXCLUDED.count,
        points = campaign_counters.points + EXCLUDED.points
    """
)


async def move_user(conn: AsyncConnection, org_id: str, source: str, target: str) -> None:
    """Add ``source``'s per-user counters to ``target``'s, and hand it its reservations: a
    merged user's firings still count against the survivor's limits, and a release later gives
    back to the counters that hold the unit. Callers hold both users locked, and reservations
    hold their user shared (``users.hold``), so no reservation is in flight."""
    await conn.execute(
        _MOVE_USER,
        {
            "org_id": org_id,
            "source": source,
            "target": target,
            "lifetime": user_scope(source),
            "target_lifetime": user_scope(target),
            "prefix": PERIOD_SCOPE_PREFIX,
        },
    )
    await conn.execute(
        update(LimitReservation)
        .where(LimitReservation.org_id == org_id, LimitReservation.user_id == source)
        .values(user_id=target, updated_at=func.now())
    )
