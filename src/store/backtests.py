"""Backtests' rows, and the stored actions they read a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, cast, func, insert, select, text, tuple_, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.backtests import BacktestStatus, Stored
from src.store.records import record
from src.store.tables import Backtest, BacktestCounter, BacktestUser, Event, User


async def count(
    conn: AsyncConnection, org_id: str, actions: list[str], start: datetime, end: datetime
) -> int:
    return int(
        await conn.scalar(
            select(func.count()).where(
                Event.org_id == org_id,
                Event.action.in_(actions),
                Event.occurred_at >= start,
                Event.occurred_at < end,
            )
        )
        or 0
    )


async def running(conn: AsyncConnection, org_id: str | None, seconds: float) -> int:
    """Backtests (the org's, or all) running and saved in the last ``seconds`` (a live run
    saves every page; one whose run was terminated stops counting)."""
    query = select(func.count()).where(
        Backtest.status == BacktestStatus.running,
        Backtest.updated_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds),
    )
    if org_id is not None:
        query = query.where(Backtest.org_id == org_id)
    return int(await conn.scalar(query) or 0)


_REQUESTS_LOCK = 7_243_004


async def lock_requests(conn: AsyncConnection) -> None:
    """Hold the service's backtest requests' turn until the transaction ends."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _REQUESTS_LOCK})


async def stale(conn: AsyncConnection, older_than: float, limit: int) -> list[str]:
    """Running backtests not saved for ``older_than`` seconds, longest silent first."""
    query = (
        select(Backtest.id)
        .where(
            Backtest.status == BacktestStatus.running,
            Backtest.updated_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than),
        )
        .order_by(Backtest.updated_at)
        .limit(limit)
    )
    return list(await conn.scalars(query))


async def create(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(Backtest).values(**values))


@dataclass(frozen=True)
class StoredBacktest:
    id: str
    campaign_id: str
    campaign_version: int
    actions: list[str]
    window_start: datetime
    window_end: datetime
    status: str  # running | completed | failed
    total: int
    processed: int
    state: dict[str, Any] | None  # the saved Tally, after each page
    error: str | None
    personal: bool  # whether the requesting key may read users
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None


async def get(conn: AsyncConnection, org_id: str, backtest_id: str) -> StoredBacktest | None:
    row = (
        await conn.execute(
            select(Backtest).where(Backtest.org_id == org_id, Backtest.id == backtest_id)
        )
    ).first()
    return None if row is None else record(StoredBacktest, row)


async def page(
    conn: AsyncConnection,
    org_id: str,
    actions: list[str],
    start: datetime,
    end: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
    max_bytes: int,
) -> tuple[list[Stored], bool]:
    """The next stored actions in (timestamp, event ID) order, each with the user it resolved
    to (the survivor of a merge; none once erased), and whether the window is read to its
    end. One query: an ordered index range per action type, merged by PostgreSQL (a merge
    append reads no more than it returns), streamed and cut once ``limit`` actions or
    ``max_bytes`` of their data and metadata are read (at least one), so large bodies cannot
    make a page large. Then their users by primary key, in one query."""
    ranges = []
    for action in actions:
        query = _PAGE.where(
            Event.org_id == org_id,
            Event.action == action,
            Event.occurred_at >= start,
            Event.occurred_at < end,
        )
        if after is not None:
            query = query.where(tuple_(Event.occurred_at, Event.id) > tuple_(*after))
        ranges.append(select(query.limit(limit).subquery()))
    merged = union_all(*ranges).subquery()
    ordered = select(merged).order_by(merged.c.occurred_at, merged.c.id).limit(limit)
    rows: list[Any] = []
    read = 0
    async with conn.stream(ordered.execution_options(yield_per=STREAM_ROWS)) as result:
        async for row in result:
            rows.append(row)
            read += row.size
            if read >= max_bytes:
                break
    exhausted = len(rows) < limit and read < max_bytes
    found = await _users(conn, org_id, {r.resolved_user_id for r in rows} - {None})
    stored = [
        Stored(
            event_id=r.id,
            action=r.action,
            occurred_at=r.occurred_at,
            accepted_at=r.created_at,
            data=r.data,
            metadata=r.meta,
            user=found.get(r.resolved_user_id),
        )
        for r in rows
    ]
    return stored, exhausted


async def known_users(conn: AsyncConnection, backtest_id: str, ids: set[str]) -> set[str]:
    """Which of ``ids`` the backtest rewarded before."""
    if not ids:
        return set()
    query = select(BacktestUser.user_id).where(
        BacktestUser.backtest_id == backtest_id, BacktestUser.user_id.in_(ids)
    )
    return set(await conn.scalars(query))


async def add_users(conn: AsyncConnection, backtest_id: str, ids: set[str]) -> None:
    if ids:
        await conn.execute(_ADD_USERS, {"backtest": backtest_id, "ids": sorted(ids)})


async def counters(
    conn: AsyncConnection, backtest_id: str, scopes: set[str]
) -> dict[str, tuple[int, Decimal]]:
    """The backtest's counters of these scopes (absent ones are empty)."""
    if not scopes:
        return {}
    rows = await conn.execute(
        select(
            BacktestCounter.scope, BacktestCounter.count.label("n"), BacktestCounter.points
        ).where(BacktestCounter.backtest_id == backtest_id, BacktestCounter.scope.in_(scopes))
    )
    return {r.scope: (r.n, r.points) for r in rows}


async def save_counters(
    conn: AsyncConnection, backtest_id: str, changed: dict[str, tuple[int, Decimal]]
) -> None:
    if changed:
        scopes = sorted(changed)
        await conn.execute(
            _SAVE_COUNTERS,
            {
                "backtest": backtest_id,
                "scopes": scopes,
                "counts": [changed[s][0] for s in scopes],
                "points": [changed[s][1] for s in scopes],
            },
        )


# Arrays, not value lists: one statement text for any number of rows, within asyncpg's
# parameter limit however many a page (or a legacy state) holds.
_ADD_USERS = text(
    """
    INSERT INTO backtest_users (backtest_id, user_id)
    SELECT CAST(:backtest AS text), unnest(CAST(:ids AS text[]))
    ON CONFLICT DO NOTHING
    """
)
_SAVE_COUNTERS = text(
    """
    INSERT INTO backtest_counters (backtest_id, scope, count, points)
    SELECT CAST(:backtest AS text), c.scope, c.n, c.points
    FROM unnest(CAST(:scopes AS text[]), CAST(:counts AS integer[]),
                CAST(:points AS numeric[])) AS c(scope, n, points)
    ON CONFLICT (backtest_id, scope) DO UPDATE SET count = excluded.count,
                                                  points = excluded.points
    """
)


async def _users(conn: AsyncConnection, org_id: str, ids: set[str]) -> dict[str, dict[str, Any]]:
    """Each resolved user's facts, as the live user holding its grants now (itself, or the
    survivor it was merged into); erased users are absent."""
    if not ids:
        return {}
    holders = {
        r.id: r.merged_into or r.id
        for r in await conn.execute(
            select(User.id, User.merged_into).where(User.org_id == org_id, User.id.in_(ids))
        )
    }
    live = {
        r.id: {"id": r.id, "email": r.email, "phone": r.phone}
        for r in await conn.execute(
            select(User.id, User.email, User.phone).where(
                User.org_id == org_id,
                User.id.in_(set(holders.values())),
                User.deleted_at.is_(None),
            )
        )
    }
    return {uid: live[holder] for uid, holder in holders.items() if holder in live}


async def save(conn: AsyncConnection, backtest_id: str, processed: int, state: Any) -> None:
    await conn.execute(
        update(Backtest)
        .where(Backtest.id == backtest_id)
        .values(processed=processed, state=state, updated_at=func.now())
    )


async def finish(
    conn: AsyncConnection, backtest_id: str, status: str, error: str | None = None
) -> None:
    await conn.execute(
        update(Backtest)
        .where(Backtest.id == backtest_id, Backtest.status == BacktestStatus.running)
        .values(status=status, error=error, completed_at=func.now(), updated_at=func.now())
    )


STREAM_ROWS = 50  # rows fetched from the cursor at a time
_PAGE = select(
    Event.id,
    Event.action,
    Event.occurred_at,
    Event.created_at,
    Event.data,
    Event.meta.label("meta"),
    Event.resolved_user_id,
    (func.octet_length(cast(Event.data, Text)) + func.octet_length(cast(Event.meta, Text))).label(
        "size"
    ),
).order_by(Event.occurred_at, Event.id)
