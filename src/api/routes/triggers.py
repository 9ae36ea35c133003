"""Trigger definitions (guide "Step 1"): the declared, typed fields of an action's data."""

from __future__ import annotations

from fastapi import APIRouter, Response

from src.api.deps import CampaignsRead, CampaignsWrite, EngineDep, IngestDep
from src.api.pagination import Cursor, Limit, page
from src.api.schemas.common import Page, errors
from src.api.schemas.triggers import TriggerBody, TriggerOut
from src.services import campaigns

router = APIRouter(prefix="/v1/triggers", tags=["triggers"])


@router.post(
    "",
    status_code=201,
    response_model=TriggerOut,
    operation_id="createTrigger",
    responses=errors(409, 413, 422),
)
async def create_trigger(
    trigger: TriggerBody, principal: CampaignsWrite, engine: EngineDep, ingest: IngestDep
) -> TriggerOut:
    row = await campaigns.create_trigger(engine, principal.org_id, trigger)
    ingest.forget_trigger(principal.org_id, trigger.key)
    return TriggerOut.of(row)


@router.get("", response_model=Page[TriggerOut], operation_id="listTriggers", responses=errors(422))
async def list_triggers(
    principal: CampaignsRead, engine: EngineDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[TriggerOut]:
    rows = await campaigns.triggers_page(engine, principal.org_id, cursor, limit + 1)
    return page(rows, limit, TriggerOut.of, lambda r: r.definition.key)


@router.get("/{key}", response_model=TriggerOut, operation_id="getTrigger", responses=errors(404))
async def get_trigger(key: str, principal: CampaignsRead, engine: EngineDep) -> TriggerOut:
    return TriggerOut.of(await campaigns.get_trigger(engine, principal.org_id, key))


@router.put(
    "/{key}",
    response_model=TriggerOut,
    operation_id="replaceTrigger",
    responses=errors(404, 413, 422),
)
async def replace_trigger(
    key: str, trigger: TriggerBody, principal: CampaignsWrite, engine: EngineDep, ingest: IngestDep
) -> TriggerOut:
    """Replace the definition; campaigns already written against it keep their versions."""
    row = await campaigns.replace_trigger(engine, principal.org_id, key, trigger)
    ingest.forget_trigger(principal.org_id, key)
    return TriggerOut.of(row)


@router.delete("/{key}", status_code=204, operation_id="deleteTrigger", responses=errors(404))
async def delete_trigger(
    key: str, principal: CampaignsWrite, engine: EngineDep, ingest: IngestDep
) -> Response:
    await campaigns.delete_trigger(engine, principal.org_id, key)
    ingest.forget_trigger(principal.org_id, key)
    return Response(status_code=204)
