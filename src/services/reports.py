"""Reading what was granted: the ledger, and campaign analytics."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.analytics import Report
from src.domain.errors import NotFound
from src.domain.ledger import Transaction
from src.store import analytics, campaigns, orgs, transactions


async def ledger_page(
    engine: AsyncEngine, org_id: str, before: int | None, limit: int, **filters: str | None
) -> list[Transaction]:
    """Ledger rows, newest first, before the row ``before`` (a cursor)."""
    async with engine.connect() as conn:
        return await transactions.list_page(conn, org_id, before, limit, **filters)


async def campaign(engine: AsyncEngine, org_id: str, campaign_id: str) -> tuple[str, Report]:
    """(the org's time zone, the report): actions matched, users rewarded, points, products
    and codes granted, failures and limit skips by reason, per day in that time zone."""
    async with engine.connect() as conn:
        if await campaigns.get(conn, org_id, campaign_id) is None:
            raise NotFound(f"campaign '{campaign_id}' not found")
        zone = (await orgs.get_settings(conn, org_id)).timezone
        return zone, await analytics.campaign(conn, org_id, campaign_id, zone)
