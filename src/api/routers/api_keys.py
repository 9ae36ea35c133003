"""API keys: create, list, rotate (the old secret lives on for a grace period), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.api.auth import Principal, require
from src.api.body import parse
from src.api.errors import ApiError
from src.store import orgs

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - set(orgs.ALL_SCOPES))
        if unknown:
            raise ValueError(f"unknown scope '{unknown[0]}'; one of {', '.join(orgs.ALL_SCOPES)}")
        return sorted(set(scopes))


class KeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graceSeconds: int = Field(default=86_400, ge=0, le=30 * 86_400)


def _created(key_id: str, secret: str, extra: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"id": key_id, "secret": secret, **extra}, status_code=201)


@router.post("", status_code=201)
async def create_key(
    request: Request, principal: Principal = Depends(require("admin"))
) -> JSONResponse:
    body = await parse(request, KeyCreate)
    async with request.app.state.engine.begin() as conn:
        key_id, secret = await orgs.create_key(conn, principal.org_id, body.name, body.scopes)
    return _created(key_id, secret, {"name": body.name, "scopes": body.scopes})


@router.get("")
async def list_keys(
    request: Request, principal: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        return {"data": await orgs.list_keys(conn, principal.org_id), "nextCursor": None}


@router.post("/{key_id}/rotate", status_code=201)
async def rotate_key(
    key_id: str, request: Request, principal: Principal = Depends(require("admin"))
) -> JSONResponse:
    """A new key with the same name and scopes; the old one expires after ``graceSeconds``."""
    body = await parse(request, KeyRotate)
    async with request.app.state.engine.begin() as conn:
        new_id, secret, old_expires = await orgs.rotate_key(
            conn, principal.org_id, key_id, body.graceSeconds
        )
    request.app.state.key_cache.clear()
    return _created(new_id, secret, {"replaces": key_id, "oldKeyExpiresAt": old_expires})


@router.delete("/{key_id}", status_code=204)
async def revoke_key(
    key_id: str, request: Request, principal: Principal = Depends(require("admin"))
) -> None:
    async with request.app.state.engine.begin() as conn:
        if not await orgs.revoke_key(conn, principal.org_id, key_id):
            raise ApiError(404, "not_found", f"API key '{key_id}' not found or already revoked")
    request.app.state.key_cache.clear()
