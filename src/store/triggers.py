"""Trigger definitions: the typed schema of an action's ``data``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.triggers import StoredTrigger, TriggerDefinition
from src.store import changes
from src.store.pages import keyset_page
from src.store.tables import Trigger


def _stored(row: Row[Any] | None) -> StoredTrigger | None:
    if row is None:
        return None
    definition = TriggerDefinition.model_validate(row.definition)
    return StoredTrigger(definition, row.created_at, row.updated_at)


async def create(
    conn: AsyncConnection, org_id: str, trigger: TriggerDefinition
) -> StoredTrigger | None:
    """None when the org already has a trigger with this key."""
    await changes.announce(conn, "triggers", org_id, trigger.key)
    row = (
        await conn.execute(
            insert(Trigger)
            .values(org_id=org_id, key=trigger.key, definition=trigger.model_dump(mode="json"))
            .on_conflict_do_nothing()
            .returning(Trigger)
        )
    ).first()
    return _stored(row)


async def replace(
    conn: AsyncConnection, org_id: str, trigger: TriggerDefinition
) -> StoredTrigger | None:
    await changes.announce(conn, "triggers", org_id, trigger.key)
    row = (
        await conn.execute(
            update(Trigger)
            .where(Trigger.org_id == org_id, Trigger.key == trigger.key)
            .values(definition=trigger.model_dump(mode="json"), updated_at=func.now())
            .returning(Trigger)
        )
    ).first()
    return _stored(row)


async def remove(conn: AsyncConnection, org_id: str, key: str) -> bool:
    await changes.announce(conn, "triggers", org_id, key)
    gone = await conn.scalar(
        delete(Trigger).where(Trigger.org_id == org_id, Trigger.key == key).returning(Trigger.key)
    )
    return gone is not None


async def get(conn: AsyncConnection, org_id: str, key: str) -> StoredTrigger | None:
    return _stored(
        (
            await conn.execute(select(Trigger).where(Trigger.org_id == org_id, Trigger.key == key))
        ).first()
    )


async def list_page(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> list[StoredTrigger]:
    rows = await keyset_page(conn, Trigger, Trigger.key, org_id, after, limit)
    return [stored for stored in map(_stored, rows) if stored is not None]


async def definitions(
    conn: AsyncConnection, org_id: str, keys: Iterable[str]
) -> dict[str, TriggerDefinition]:
    rows = await conn.execute(
        select(Trigger.definition).where(Trigger.org_id == org_id, Trigger.key.in_(set(keys)))
    )
    parsed = (TriggerDefinition.model_validate(r.definition) for r in rows)
    return {t.key: t for t in parsed}
