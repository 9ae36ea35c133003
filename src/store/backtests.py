"""Backtests' rows, and the stored actions they read a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.backtests import Stored
from src.store.tables import Backtest, Event, User


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
        Backtest.status == "running",
        Backtest.updated_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds),
    )
    if org_id is not None:
        query = query.where(Backtest.org_id == org_id)
    return int(await conn.scalar(query) or 0)


async def create(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(Backtest).values(**values))


async def get(conn: AsyncConnection, org_id: str, backtest_id: str) -> Any:
    return (
        await conn.execute(
            select(Backtest).where(Backtest.org_id == org_id, Backtest.id == backtest_id)
        )
    ).first()


async def page(
    conn: AsyncConnection,
    org_id: str,
    actions: list[str],
    start: datetime,
    end: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Stored]:
    """The next ``limit`` stored actions in (timestamp, event ID) order, each with the user it
    resolved to (the survivor of a merge; none once erased). One ordered index range per
    action type, merged here (one query over several types would sort the whole window for
    every page); then their users by primary key, in one query."""
    rows: list[Any] = []
    for action in actions:
        query = _PAGE.where(
            Event.org_id == org_id,
            Event.action == action,
            Event.occurred_at >= start,
            Event.occurred_at < end,
        ).limit(limit)
        if after is not None:
            query = query.where(tuple_(Event.occurred_at, Event.id) > tuple_(*after))
        rows += (await conn.execute(query)).all()
    rows.sort(key=lambda r: (r.occurred_at, r.id))
    rows = rows[:limit]
    found = await _users(conn, org_id, {r.resolved_user_id for r in rows} - {None})
    return [
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
        .where(Backtest.id == backtest_id, Backtest.status == "running")
        .values(status=status, error=error, completed_at=func.now(), updated_at=func.now())
    )


_PAGE = select(
    Event.id,
    Event.action,
    Event.occurred_at,
    Event.created_at,
    Event.data,
    Event.meta.label("meta"),
    Event.resolved_user_id,
).order_by(Event.occurred_at, Event.id)
