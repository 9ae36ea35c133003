"""Campaigns (guide "Step 2"): active on creation unless a draft; every edit of the definition
makes a new immutable version; status moves only along the lifecycle."""

from __future__ import annotations

from fastapi import APIRouter, Query

from src.api.deps import CampaignsRead, CampaignsWrite, EngineDep
from src.api.pagination import Cursor, Limit, page
from src.api.schemas.campaigns import CampaignCreate, CampaignOut, CampaignPatch, VersionOut
from src.api.schemas.common import Page, errors
from src.domain.campaigns import CampaignDefinition, CampaignStatus
from src.services import campaigns

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


@router.post(
    "",
    status_code=201,
    response_model=CampaignOut,
    operation_id="createCampaign",
    responses=errors(413, 422),
)
async def create_campaign(
    body: CampaignCreate, principal: CampaignsWrite, engine: EngineDep
) -> CampaignOut:
    """Conditions on a declared trigger must name its fields with fitting operators and
    values (else 422 at ``triggers[i].conditions[j]``)."""
    definition = CampaignDefinition.model_validate(body.model_dump(exclude={"status"}))
    return CampaignOut.of(await campaigns.create(engine, principal.org_id, definition, body.status))


@router.get(
    "", response_model=Page[CampaignOut], operation_id="listCampaigns", responses=errors(422)
)
async def list_campaigns(
    principal: CampaignsRead,
    engine: EngineDep,
    status: CampaignStatus | None = Query(None),
    action: str | None = Query(None, max_length=64, description="Campaigns listening to it."),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CampaignOut]:
    rows = await campaigns.list_page(
        engine, principal.org_id, cursor, limit + 1, status.value if status else None, action
    )
    return page(rows, limit, CampaignOut.of, lambda c: c.id)


@router.get(
    "/{campaign_id}", response_model=CampaignOut, operation_id="getCampaign", responses=errors(404)
)
async def get_campaign(
    campaign_id: str, principal: CampaignsRead, engine: EngineDep
) -> CampaignOut:
    return CampaignOut.of(await campaigns.get(engine, principal.org_id, campaign_id))


@router.get(
    "/{campaign_id}/versions",
    response_model=Page[VersionOut],
    operation_id="listCampaignVersions",
    responses=errors(404),
)
async def list_versions(
    campaign_id: str, principal: CampaignsRead, engine: EngineDep
) -> Page[VersionOut]:
    """Every immutable version, newest first."""
    stored = await campaigns.versions(engine, principal.org_id, campaign_id)
    return Page[VersionOut](data=[VersionOut.of(v) for v in stored])


@router.patch(
    "/{campaign_id}",
    response_model=CampaignOut,
    operation_id="updateCampaign",
    responses=errors(404, 409, 413, 422),
)
async def patch_campaign(
    campaign_id: str, patch: CampaignPatch, principal: CampaignsWrite, engine: EngineDep
) -> CampaignOut:
    changed = await campaigns.change(
        engine,
        principal.org_id,
        campaign_id,
        patch.definition_changes(),
        patch.status.value if patch.status else None,
    )
    return CampaignOut.of(changed)


def _transition(verb: str, target: str, summary: str) -> None:
    """``POST /v1/campaigns/{id}/<verb>``: move the campaign to ``target``."""

    async def move(campaign_id: str, principal: CampaignsWrite, engine: EngineDep) -> CampaignOut:
        changed = await campaigns.transition(engine, principal.org_id, campaign_id, target)
        return CampaignOut.of(changed)

    router.add_api_route(
        f"/{{campaign_id}}/{verb}",
        move,
        methods=["POST"],
        response_model=CampaignOut,
        operation_id=f"{verb}Campaign",
        responses=errors(404, 409),
        description=summary,
        name=f"{verb}_campaign",
    )


_transition("activate", "active", "draft or paused → active.")
_transition("pause", "paused", "active → paused.")
_transition("archive", "archived", "Any status → archived (final).")
