"""Campaigns (guide "Step 2") and the typed triggers their conditions are checked against
(guide "Step 1"): every edit of a definition makes a new immutable version; status moves only
along the lifecycle."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.domain.campaigns import (
    Campaign,
    CampaignDefinition,
    StoredVersion,
    check_transition,
)
from src.domain.errors import Conflict, Invalid, NotFound, present
from src.domain.triggers import StoredTrigger, TriggerDefinition, condition_errors
from src.store import campaigns, triggers


async def _check_triggers(
    conn: AsyncConnection, org_id: str, definition: CampaignDefinition
) -> None:
    """Conditions on a declared trigger must name its fields with fitting operators and values."""
    declared = await triggers.definitions(conn, org_id, [r.type for r in definition.triggers])
    problems = [
        problem
        for i, rule in enumerate(definition.triggers)
        if rule.type in declared
        for problem in condition_errors(i, rule, declared[rule.type])
    ]
    if problems:
        raise Invalid.fields(problems)


async def _locked(conn: AsyncConnection, org_id: str, campaign_id: str) -> Campaign:
    found = await campaigns.get(conn, org_id, campaign_id, for_update=True)
    if found is None:
        raise NotFound(f"campaign '{campaign_id}' not found")
    return found


async def create(
    engine: AsyncEngine, org_id: str, definition: CampaignDefinition, status: str
) -> Campaign:
    async with engine.begin() as conn:
        await _check_triggers(conn, org_id, definition)
        campaign_id = await campaigns.create(conn, org_id, definition, status)
        created = await campaigns.get(conn, org_id, campaign_id)
    return present(created, f"campaign {campaign_id}")


async def get(engine: AsyncEngine, org_id: str, campaign_id: str) -> Campaign:
    async with engine.connect() as conn:
        found = await campaigns.get(conn, org_id, campaign_id)
    if found is None:
        raise NotFound(f"campaign '{campaign_id}' not found")
    return found


async def list_page(
    engine: AsyncEngine,
    org_id: str,
    after: str | None,
    limit: int,
    status: str | None,
    action: str | None,
) -> list[Campaign]:
    async with engine.connect() as conn:
        return await campaigns.list_page(conn, org_id, after, limit, status, action)


async def versions(engine: AsyncEngine, org_id: str, campaign_id: str) -> list[StoredVersion]:
    async with engine.connect() as conn:
        found = await campaigns.versions(conn, org_id, campaign_id)
    if not found:
        raise NotFound(f"campaign '{campaign_id}' not found")
    return found


async def change(
    engine: AsyncEngine,
    org_id: str,
    campaign_id: str,
    changes: dict[str, Any],
    status: str | None,
) -> Campaign:
    """Replace the given definition fields (a new version if anything differs) and/or move the
    status along the lifecycle, in one transaction."""
    async with engine.begin() as conn:
        current = await _locked(conn, org_id, campaign_id)
        if changes:
            if current.status == "archived":
                raise Conflict("an archived campaign cannot be edited")
            stored = current.definition.model_dump(mode="json")
            try:
                definition = CampaignDefinition.model_validate(stored | changes)
            except ValidationError as exc:
                raise Invalid.of(exc) from exc
            if definition.model_dump(mode="json") != stored:
                await _check_triggers(conn, org_id, definition)
                await campaigns.new_version(conn, org_id, campaign_id, definition)
        if status is not None and status != current.status:
            check_transition(current.status, status)
            await campaigns.set_status(conn, org_id, campaign_id, status)
        updated = await campaigns.get(conn, org_id, campaign_id)
    return present(updated, f"campaign {campaign_id}")


async def transition(engine: AsyncEngine, org_id: str, campaign_id: str, target: str) -> Campaign:
    async with engine.begin() as conn:
        current = await _locked(conn, org_id, campaign_id)
        check_transition(current.status, target)
        await campaigns.set_status(conn, org_id, campaign_id, target)
        updated = await campaigns.get(conn, org_id, campaign_id)
    return present(updated, f"campaign {campaign_id}")


async def create_trigger(
    engine: AsyncEngine, org_id: str, trigger: TriggerDefinition
) -> StoredTrigger:
    async with engine.begin() as conn:
        found = await triggers.create(conn, org_id, trigger)
    if found is None:
        raise Conflict(f"trigger '{trigger.key}' already exists")
    return found


async def triggers_page(
    engine: AsyncEngine, org_id: str, after: str | None, limit: int
) -> list[StoredTrigger]:
    async with engine.connect() as conn:
        return await triggers.list_page(conn, org_id, after, limit)


async def get_trigger(engine: AsyncEngine, org_id: str, key: str) -> StoredTrigger:
    async with engine.connect() as conn:
        found = await triggers.get(conn, org_id, key)
    if found is None:
        raise NotFound(f"trigger '{key}' not found")
    return found


async def replace_trigger(
    engine: AsyncEngine, org_id: str, key: str, trigger: TriggerDefinition
) -> StoredTrigger:
    """Campaigns already written against it keep their versions."""
    if trigger.key != key:
        raise Invalid.field("key", "must match the path")
    async with engine.begin() as conn:
        found = await triggers.replace(conn, org_id, trigger)
    if found is None:
        raise NotFound(f"trigger '{key}' not found")
    return found


async def delete_trigger(engine: AsyncEngine, org_id: str, key: str) -> None:
    async with engine.begin() as conn:
        if not await triggers.remove(conn, org_id, key):
            raise NotFound(f"trigger '{key}' not found")


async def declared(engine: AsyncEngine, org_id: str, action: str) -> TriggerDefinition | None:
    """The trigger definition typing an action's data, if the org declared one."""
    async with engine.connect() as conn:
        return (await triggers.definitions(conn, org_id, [action])).get(action)
