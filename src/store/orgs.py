"""Organisations and their settings."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import cast, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.settings import OrgSettings
from src.store import changes
from src.store.tables import Org


async def create(conn: AsyncConnection, name: str, org_id: str | None = None) -> str:
    org_id = org_id or str(uuid.uuid4())
    await conn.execute(insert(Org).values(id=org_id, name=name))
    return org_id


async def exists(conn: AsyncConnection, org_id: str) -> bool:
    return await conn.scalar(select(Org.id).where(Org.id == org_id)) is not None


async def merge_settings(
    conn: AsyncConnection, org_id: str, patch: dict[str, Any]
) -> OrgSettings | None:
    """Merge top-level keys into the org's settings in one statement, so concurrent edits of
    different keys both survive; None for an unknown org."""
    merged = await conn.scalar(
        update(Org)
        .where(Org.id == org_id)
        .values(settings=Org.settings.op("||")(cast(patch, JSONB)))
        .returning(Org.settings)
    )
    return None if merged is None else OrgSettings.of(merged)


async def set_rate_limit(conn: AsyncConnection, org_id: str, per_second: int, burst: int) -> bool:
    """An operator's per-org override of the default rate limit."""
    limit = {"rateLimit": {"perSecond": per_second, "burst": burst}}
    await changes.announce(conn, "keys", org_id)  # verified keys carry the org's rate
    return await merge_settings(conn, org_id, limit) is not None


async def lock(conn: AsyncConnection, org_id: str) -> None:
    """Hold the org's row until the transaction ends, so org-wide checks take turns; a lock
    that lets rows referencing the org (events, users…) be written meanwhile."""
    await conn.execute(select(Org.id).where(Org.id == org_id).with_for_update(key_share=True))


async def get_settings(conn: AsyncConnection, org_id: str) -> OrgSettings:
    return OrgSettings.of(await conn.scalar(select(Org.settings).where(Org.id == org_id)))
