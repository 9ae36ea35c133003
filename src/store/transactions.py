"""Ledger queries, newest first, keyset-paginated on the ledger's id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.ledger import Transaction
from src.store.records import records
from src.store.tables import LedgerEntry

_FILTERS = {
    "user_id": LedgerEntry.user_id,
    "campaign_id": LedgerEntry.campaign_id,
    "event_id": LedgerEntry.event_id,
    "type": LedgerEntry.type,
    "currency": LedgerEntry.currency,
}


async def list_page(
    conn: AsyncConnection, org_id: str, before: int | None, limit: int, **filters: str | None
) -> list[Transaction]:
    query = select(LedgerEntry).where(LedgerEntry.org_id == org_id)
    for name, value in filters.items():
        if value is not None:
            query = query.where(_FILTERS[name] == value)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    query = query.order_by(LedgerEntry.id.desc()).limit(limit)
    return records(Transaction, await conn.execute(query))
