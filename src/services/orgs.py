"""Organisations: creation, settings and the operators' rate-limit overrides."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.errors import NotFound
from src.domain.scopes import SCOPES
from src.domain.settings import OrgSettings
from src.store import keys, orgs


async def create(engine: AsyncEngine, name: str) -> tuple[str, str, str]:
    """A new org and an all-scopes key: (org ID, key ID, secret shown this once)."""
    async with engine.begin() as conn:
        org_id = await orgs.create(conn, name)
        key_id, secret = await keys.create(conn, org_id, "default", list(SCOPES))
    return org_id, key_id, secret


async def exists(engine: AsyncEngine, org_id: str) -> bool:
    async with engine.connect() as conn:
        return await orgs.exists(conn, org_id)


async def settings(engine: AsyncEngine, org_id: str) -> OrgSettings:
    async with engine.connect() as conn:
        return await orgs.get_settings(conn, org_id)


async def change_settings(engine: AsyncEngine, org_id: str, patch: dict[str, Any]) -> OrgSettings:
    """Merge ``patch``'s keys into the settings; concurrent edits of other keys survive."""
    async with engine.begin() as conn:
        merged = await orgs.merge_settings(conn, org_id, patch)
    if merged is None:
        raise NotFound(f"organisation '{org_id}' not found")
    return merged


async def set_rate_limit(
    engine: AsyncEngine, org_id: str, per_second: int, burst: int, key_id: str | None = None
) -> None:
    """An operator's override of the org's rate limit, or a key's own smaller budget."""
    async with engine.begin() as conn:
        done = (
            await keys.set_rate_limit(conn, org_id, key_id, per_second, burst)
            if key_id is not None
            else await orgs.set_rate_limit(conn, org_id, per_second, burst)
        )
    if not done:
        raise NotFound(f"no organisation {org_id}" + (f" with key {key_id}" if key_id else ""))
