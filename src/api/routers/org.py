"""Per-org settings: user look-up switches, the unknown-user policy, phone region, time zone
and how old an action's own timestamp may be."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.api.auth import Principal, require
from src.api.body import parse
from src.domain.settings import OrgSettings, UserLookup, check_zone
from src.store import orgs

router = APIRouter(prefix="/v1/org", tags=["org"])


class SettingsPatch(BaseModel):
    """Keys to change; the rest stay as they are."""

    model_config = ConfigDict(extra="forbid")

    userLookup: UserLookup | None = None
    unknownUsers: Literal["skip", "enroll"] | None = None
    phoneRegion: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timezone: str | None = Field(default=None, max_length=64)
    maxEventAge: timedelta | None = Field(
        default=None, ge=timedelta(0), le=timedelta(days=365), description="ISO 8601, e.g. P7D"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)


def _public(settings: OrgSettings) -> dict[str, Any]:
    """The settings an org manages (its rate limit is the operator's)."""
    return settings.model_dump(mode="json", exclude={"rateLimit"})


@router.get("/settings")
async def get_settings(
    request: Request, principal: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        return _public(await orgs.get_settings(conn, principal.org_id))


@router.patch("/settings")
async def patch_settings(
    request: Request, principal: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    patch = await parse(request, SettingsPatch)
    async with request.app.state.engine.begin() as conn:
        merged = await orgs.merge_settings(
            conn, principal.org_id, patch.model_dump(mode="json", exclude_none=True)
        )
    return _public(merged or OrgSettings())
