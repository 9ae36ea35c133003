"""Per-org settings: user look-up switches and the unknown-user policy."""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.api.auth import Principal, require
from src.api.body import parse
from src.store import orgs

router = APIRouter(prefix="/v1/org", tags=["org"])


class UserLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: bool = False
    phone: bool = False


class SettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    userLookup: UserLookup | None = None
    unknownUsers: Literal["skip", "enroll"] | None = None
    phoneRegion: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timezone: str | None = Field(default=None, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone '{value}' (use an IANA name)") from None
        return value


def _public(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "userLookup": UserLookup.model_validate(settings.get("userLookup", {})).model_dump(),
        "unknownUsers": settings.get("unknownUsers", "skip"),
        "phoneRegion": settings.get("phoneRegion"),
        "timezone": settings.get("timezone", "UTC"),
    }


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
    return _public(merged or {})
