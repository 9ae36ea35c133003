"""Atomic limit reservations: a conditional upsert per counter, all-or-nothing per firing."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.limits import PERIOD_SCOPE_PREFIX, Counter, user_scope

_RESERVE = text(
    """
    INSERT INTO campaign_counters (org_id, campaign_id, scope, count, points)
    VALUES (:org_id, :campaign_id, :scope, 1, :points)
    ON CONFLICT (org_id, campaign_id, scope) DO UPDATE
    SET count = campaign_counters.count + 1, points = campaign_counters.points + EXCLUDED.points
    WHERE (CAST(:max_count AS integer) IS NULL OR campaign_counters.count < :max_count)
      AND (CAST(:max_points AS numeric) IS NULL
           OR campaign_counters.points + EXCLUDED.points <= :max_points)
    RETURNING count
    """
)


async def reserve(
    conn: AsyncConnection, org_id: str, campaign_id: str, counters: list[Counter], points: Decimal
) -> str | None:
    """Reserve one firing on every counter, or none: returns the refusing limit's name.

    The row lock of each counter serialises concurrent firings, so a limit is never exceeded.
    """
    for counter in counters:
        if counter.max_points is not None and points > counter.max_points:
            return counter.reason
    async with conn.begin_nested() as savepoint:
        for counter in counters:
            taken = await conn.scalar(
                _RESERVE,
                {
                    "org_id": org_id,
                    "campaign_id": campaign_id,
                    "scope": counter.scope,
                    "points": points,
                    "max_count": counter.max_count,
                    "max_points": counter.max_points,
                },
            )
            if taken is None:
                await savepoint.rollback()
                return counter.reason
    return None


async def usage(
    conn: AsyncConnection, org_id: str, campaign_id: str, counters: list[Counter]
) -> dict[str, tuple[int, Decimal]]:
    """Current (count, points) of each counter scope; read-only, for simulations."""
    rows = await conn.execute(
        text(
            "SELECT scope, count AS used, points FROM campaign_counters "
            "WHERE org_id = :org AND campaign_id = :cid AND scope = ANY(:scopes)"
        ),
        {"org": org_id, "cid": campaign_id, "scopes": [c.scope for c in counters]},
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
    """Add ``source``'s per-user counters to ``target``'s: a merged user's firings still count
    against the survivor's limits. Callers hold both users locked, and reservations hold their
    user shared (``users.hold``), so no reservation is in flight."""
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
