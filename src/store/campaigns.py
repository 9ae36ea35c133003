"""Campaigns and their immutable versions."""

from __future__ import annotations

import math
import secrets
from typing import Any

from sqlalchemy import Row, Select, delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.campaigns import Campaign as Record
from src.domain.campaigns import CampaignDefinition, StoredVersion
from src.domain.campaigns import CampaignVersion as Version
from src.domain.errors import present
from src.store.cache import TTLCache
from src.store.tables import Campaign, CampaignTrigger, CampaignVersion

# Parsed versions by (org ID, campaign ID, version). A version never changes once written, so
# an entry never expires; the least recently used ones make room. Each process (or planner)
# owns one; without one, a version is parsed on every read (rare readers: reversals, backtests).
Parsed = TTLCache[tuple[str, str, int], Version]
PARSED_MAX = 50_000


def parsed_versions(size: int = PARSED_MAX) -> Parsed:
    return TTLCache(math.inf, size=size)


_CURRENT_VERSION = (
    (CampaignVersion.org_id == Campaign.org_id)
    & (CampaignVersion.campaign_id == Campaign.id)
    & (CampaignVersion.version == Campaign.version)
)


def _parse(
    parsed: Parsed | None, org_id: str, campaign_id: str, version: int, definition: dict[str, Any]
) -> Version:
    key = (org_id, campaign_id, version)
    found = None if parsed is None else parsed.get(key)[1]
    if found is None:  # a definition is only needed (and given) on a miss
        found = Version(
            campaign_id=campaign_id,
            version=version,
            definition=CampaignDefinition.model_validate(definition),
        )
        if parsed is not None:
            parsed.put(key, found, parsed.generation)
    return found


async def current_versions(
    conn: AsyncConnection, org_id: str, campaign_ids: list[str], parsed: Parsed | None = None
) -> list[Version]:
    """Current versions of the named campaigns, whatever their status (for simulations)."""
    rows = await conn.execute(
        select(Campaign.id, Campaign.version, CampaignVersion.definition)
        .join(CampaignVersion, _CURRENT_VERSION)
        .where(Campaign.org_id == org_id, Campaign.id.in_(campaign_ids))
        .order_by(Campaign.id)
    )
    return [_parse(parsed, org_id, r.id, r.version, r.definition) for r in rows]


ACTIVE_ON_ACTION_SQL = """
    SELECT campaign_id AS id, version FROM campaign_triggers
    WHERE org_id = :org_id AND action = :action AND active
"""
_ACTIVE_ON_ACTION = text(ACTIVE_ON_ACTION_SQL)


async def in_force(
    conn: AsyncConnection, org_id: str, action: str, parsed: Parsed | None = None
) -> list[Version]:
    """Current versions of the org's active campaigns listening to ``action``.

    Only versions not in ``parsed`` yet are fetched: the rest come from the cache.
    """
    current = (await conn.execute(_ACTIVE_ON_ACTION, {"org_id": org_id, "action": action})).all()
    return await versions_for(conn, org_id, [(r.id, r.version) for r in current], parsed)


async def versions_for(
    conn: AsyncConnection,
    org_id: str,
    current: list[tuple[str, int]],
    parsed: Parsed | None = None,
) -> list[Version]:
    """Parsed versions for (campaign ID, version) pairs; only those not in ``parsed`` are
    fetched."""
    known = {pair: None if parsed is None else parsed.get((org_id, *pair))[1] for pair in current}
    missing = [key for key, parsed in known.items() if parsed is None]
    fetched: dict[tuple[str, int], dict[str, Any]] = {}
    if missing:
        rows = await conn.execute(
            select(
                CampaignVersion.campaign_id, CampaignVersion.version, CampaignVersion.definition
            ).where(
                CampaignVersion.org_id == org_id,
                tuple_(CampaignVersion.campaign_id, CampaignVersion.version).in_(missing),
            )
        )
        fetched = {(r.campaign_id, r.version): r.definition for r in rows}
    # Taken from the cache before the await: a concurrent eviction cannot lose them.
    return [known[pair] or _parse(parsed, org_id, *pair, fetched[pair]) for pair in current]


async def create(
    conn: AsyncConnection, org_id: str, definition: CampaignDefinition, status: str
) -> str:
    campaign_id = f"cmp_{secrets.token_hex(8)}"
    await conn.execute(
        insert(Campaign).values(org_id=org_id, id=campaign_id, status=status, version=1)
    )
    await _write_version(conn, org_id, campaign_id, 1, definition)
    return campaign_id


async def new_version(
    conn: AsyncConnection, org_id: str, campaign_id: str, definition: CampaignDefinition
) -> int:
    version = await conn.scalar(
        update(Campaign)
        .where(Campaign.org_id == org_id, Campaign.id == campaign_id)
        .values(version=Campaign.version + 1, updated_at=func.now())
        .returning(Campaign.version)
    )
    version = present(version, f"campaign {campaign_id}")
    await _write_version(conn, org_id, campaign_id, version, definition)
    return int(version)


async def set_status(conn: AsyncConnection, org_id: str, campaign_id: str, status: str) -> None:
    await conn.execute(
        update(Campaign)
        .where(Campaign.org_id == org_id, Campaign.id == campaign_id)
        .values(status=status, updated_at=func.now())
    )


async def _write_version(
    conn: AsyncConnection,
    org_id: str,
    campaign_id: str,
    version: int,
    definition: CampaignDefinition,
) -> None:
    """Store the version and its actions in the planner's index (whose version and active
    columns the database copies from the campaign row)."""
    await conn.execute(
        insert(CampaignVersion).values(
            org_id=org_id,
            campaign_id=campaign_id,
            version=version,
            definition=definition.model_dump(mode="json"),
        )
    )
    await conn.execute(
        delete(CampaignTrigger).where(
            CampaignTrigger.org_id == org_id, CampaignTrigger.campaign_id == campaign_id
        )
    )
    actions = sorted({rule.type for rule in definition.triggers})
    await conn.execute(
        insert(CampaignTrigger),
        [{"org_id": org_id, "action": a, "campaign_id": campaign_id} for a in actions],
    )


def _current() -> Select[Any]:
    """Campaign rows with their current version's definition."""
    return select(Campaign, CampaignVersion.definition).join(CampaignVersion, _CURRENT_VERSION)


async def get(
    conn: AsyncConnection, org_id: str, campaign_id: str, for_update: bool = False
) -> Record | None:
    query = _current().where(Campaign.org_id == org_id, Campaign.id == campaign_id)
    if for_update:
        query = query.with_for_update(of=Campaign)
    row = (await conn.execute(query)).first()
    return None if row is None else _record(org_id, row)


async def versions(conn: AsyncConnection, org_id: str, campaign_id: str) -> list[StoredVersion]:
    """Every version, newest first; each is immutable."""
    rows = await conn.execute(
        select(CampaignVersion.version, CampaignVersion.definition, CampaignVersion.created_at)
        .where(CampaignVersion.org_id == org_id, CampaignVersion.campaign_id == campaign_id)
        .order_by(CampaignVersion.version.desc())
    )
    return [
        StoredVersion(
            r.version,
            _parse(None, org_id, campaign_id, r.version, r.definition).definition,
            r.created_at,
        )
        for r in rows
    ]


async def list_page(
    conn: AsyncConnection,
    org_id: str,
    after: str | None,
    limit: int,
    status: str | None,
    action: str | None = None,
) -> list[Record]:
    query = _current().where(Campaign.org_id == org_id).order_by(Campaign.id).limit(limit)
    if after:
        query = query.where(Campaign.id > after)
    if status:
        query = query.where(Campaign.status == status)
    if action:
        query = query.where(
            Campaign.id.in_(
                select(CampaignTrigger.campaign_id).where(
                    CampaignTrigger.org_id == org_id, CampaignTrigger.action == action
                )
            )
        )
    return [_record(org_id, row) for row in (await conn.execute(query)).all()]


def _record(org_id: str, row: Row[Any]) -> Record:
    version = _parse(None, org_id, row.id, row.version, row.definition)
    return Record(
        row.id, row.status, row.version, version.definition, row.created_at, row.updated_at
    )
