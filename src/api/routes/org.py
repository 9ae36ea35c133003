"""Org settings: user look-up switches, the unknown-user policy, phone region, time zone and
how old an action's own timestamp may be."""

from __future__ import annotations

from fastapi import APIRouter

from src.api.deps import Admin, EngineDep
from src.api.schemas.common import errors
from src.api.schemas.org import OrgSettingsOut, SettingsPatch
from src.services import orgs

router = APIRouter(prefix="/v1/org", tags=["org"])


@router.get(
    "/settings", response_model=OrgSettingsOut, operation_id="getOrgSettings", responses=errors()
)
async def get_settings(principal: Admin, engine: EngineDep) -> OrgSettingsOut:
    return OrgSettingsOut.model_validate(await orgs.settings(engine, principal.org_id))


@router.patch(
    "/settings",
    response_model=OrgSettingsOut,
    operation_id="updateOrgSettings",
    responses=errors(422),
)
async def patch_settings(
    patch: SettingsPatch, principal: Admin, engine: EngineDep
) -> OrgSettingsOut:
    """Merge the given keys into the settings; concurrent edits of other keys survive."""
    merged = await orgs.change_settings(
        engine, principal.org_id, patch.model_dump(mode="json", exclude_none=True)
    )
    return OrgSettingsOut.model_validate(merged)
