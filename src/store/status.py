"""The service's state as an operator reads it (`loyalty status`): the outbox backlog and its
age, and what became of the actions accepted in the last hour and day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from src.store.literals import FAILED, UNSETTLED_SQL

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}

# Unsettled events (the backlog), the unstarted part of it and its oldest event's age. Both
# read the partial indexes the relay uses, so a probe stays cheap however large `events` is.
_BACKLOG = text(
    f"""
    SELECT
        (SELECT count(*) FROM events WHERE started_at IS NULL
           AND (CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid))) AS unstarted,
        (SELECT count(*) FROM events WHERE started_at IS NOT NULL
           AND status IN ({UNSETTLED_SQL})
           AND (CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid))) AS in_flight,
        (SELECT extract(epoch FROM now() - min(created_at)) FROM events
           WHERE started_at IS NULL
           AND (CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid))) AS oldest_seconds
    """
)
# Accepted in the window, by status; failures by reason (its kind: the text before a colon).
_BY_STATUS = text(
    """
    SELECT status, count(*) AS n FROM events
    WHERE created_at >= now() - CAST(:window AS interval)
      AND (CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid))
    GROUP BY status
    """
)
_FAILURES = text(
    f"""
    SELECT coalesce(split_part(reason, ':', 1), 'unknown') AS reason, count(*) AS n FROM events
    WHERE status = {FAILED} AND created_at >= now() - CAST(:window AS interval)
      AND (CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid))
    GROUP BY 1 ORDER BY 2 DESC, 1
    """
)
_BUSIEST = text(
    f"""
    SELECT org_id::text AS org, count(*) AS n FROM events
    WHERE started_at IS NULL
       OR (started_at IS NOT NULL AND status IN ({UNSETTLED_SQL}))
    GROUP BY org_id ORDER BY n DESC, org_id LIMIT :top
    """
)


@dataclass(frozen=True)
class Window:
    by_status: dict[str, int]
    failures: dict[str, int]


@dataclass(frozen=True)
class Backlog:
    unstarted: int
    in_flight: int
    oldest_unstarted_seconds: float | None

    @property
    def total(self) -> int:
        return self.unstarted + self.in_flight


@dataclass(frozen=True)
class Status:
    org_id: str | None
    backlog: Backlog
    windows: dict[str, Window]
    busiest_orgs: dict[str, int] = field(default_factory=dict)  # whole service only


async def backlog(conn: AsyncConnection, org_id: str | None = None) -> Backlog:
    """The outbox now: cheap (the relay's partial indexes), fit for a frequent probe."""
    row = (await conn.execute(_BACKLOG, {"org": org_id})).one()
    oldest = row.oldest_seconds
    return Backlog(
        int(row.unstarted), int(row.in_flight), float(oldest) if oldest is not None else None
    )


async def busiest(conn: AsyncConnection, top: int) -> dict[str, int]:
    """The orgs with the most unsettled events, most first."""
    return {r.org: int(r.n) for r in await conn.execute(_BUSIEST, {"top": top})}


async def read(conn: AsyncConnection, org_id: str | None = None, top: int = 5) -> Status:
    """The whole service's status, or one org's."""
    params = {"org": org_id}
    now = await backlog(conn, org_id)
    windows = {}
    for name, span in WINDOWS.items():
        window = {**params, "window": span}
        by_status = {r.status: int(r.n) for r in await conn.execute(_BY_STATUS, window)}
        failures = {r.reason: int(r.n) for r in await conn.execute(_FAILURES, window)}
        windows[name] = Window(by_status, failures)
    largest = {} if org_id else await busiest(conn, top)
    return Status(org_id, now, windows, largest)
