"""Keyset pages of one org's rows, ordered by a unique text key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute


async def keyset_page(
    conn: AsyncConnection,
    model: Any,
    key: InstrumentedAttribute[str],
    org_id: str,
    after: str | None,
    limit: int,
    *where: ColumnElement[bool],
) -> list[Row[Any]]:
    """Rows whose ``key`` sorts after the cursor ``after``; the cursor is the last key seen."""
    query = select(model).where(model.org_id == org_id, *where).order_by(key).limit(limit)
    if after:
        query = query.where(key > after)
    return list((await conn.execute(query)).all())
