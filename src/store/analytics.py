"""Campaign analytics, computed from the ledger (net of reversals: their rows carry negative
amounts), effect outcomes and events. Days are calendar days of the actions' own timestamps
in the org's time zone."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.analytics import Day, Figures, Report
from src.store.literals import FAILED
from src.store.records import record, records

_DAILY = text(
    """
    WITH grants AS (
        SELECT (e.occurred_at AT TIME ZONE :tz)::date AS day, l.type, l.amount, l.user_id
        FROM ledger l JOIN events e ON e.id = l.event_id
        WHERE l.org_id = :org AND l.campaign_id = :cid
    ), matched AS (
        SELECT (occurred_at AT TIME ZONE :tz)::date AS day, count(*) AS n
        FROM events WHERE org_id = :org AND campaign_ids @> ARRAY[CAST(:cid AS text)]
        GROUP BY 1
    ), days AS (SELECT day FROM grants UNION SELECT day FROM matched)
    SELECT d.day AS date,
           COALESCE((SELECT n FROM matched m WHERE m.day = d.day), 0) AS actions_matched,
           COUNT(DISTINCT g.user_id) AS users_rewarded,
           COALESCE(SUM(g.amount) FILTER (WHERE g.type = 'points'), 0) AS points_issued,
           COALESCE(SUM(g.amount) FILTER (WHERE g.type = 'product'), 0)::bigint
               AS products_awarded,
           COALESCE(SUM(g.amount) FILTER (WHERE g.type = 'code'), 0)::bigint AS codes_allocated
    FROM days d LEFT JOIN grants g ON g.day = d.day
    GROUP BY d.day ORDER BY d.day
    """
)
_TOTALS = text(
    """
    SELECT
      (SELECT count(*) FROM events
       WHERE org_id = :org AND campaign_ids @> ARRAY[CAST(:cid AS text)]) AS actions_matched,
      COUNT(DISTINCT user_id) AS users_rewarded,
      COALESCE(SUM(amount) FILTER (WHERE type = 'points'), 0) AS points_issued,
      COALESCE(SUM(amount) FILTER (WHERE type = 'product'), 0)::bigint AS products_awarded,
      COALESCE(SUM(amount) FILTER (WHERE type = 'code'), 0)::bigint AS codes_allocated
    FROM ledger WHERE org_id = :org AND campaign_id = :cid
    """
)
_FAILED = text(
    f"""
    SELECT reason, count(*) AS n FROM effect_results
    WHERE org_id = :org AND campaign_id = :cid AND status = {FAILED}
    GROUP BY reason ORDER BY reason
    """
)
_SKIPPED = text(
    """
    SELECT limited->>'reason' AS reason, count(*) AS n
    FROM events, jsonb_array_elements(plan->'limited') AS limited
    WHERE org_id = :org AND campaign_ids @> ARRAY[CAST(:cid AS text)]
      AND limited->>'campaign_id' = :cid
    GROUP BY 1 ORDER BY 1
    """
)


async def campaign(conn: AsyncConnection, org_id: str, campaign_id: str, tz: str) -> Report:
    params = {"org": org_id, "cid": campaign_id, "tz": tz}
    totals = (await conn.execute(_TOTALS, params)).one()
    failed = {r.reason: r.n for r in await conn.execute(_FAILED, params)}
    skipped = {r.reason: r.n for r in await conn.execute(_SKIPPED, params)}
    days = records(Day, await conn.execute(_DAILY, params))
    return Report(record(Figures, totals), failed, skipped, days)
