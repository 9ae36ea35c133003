"""Users: management under ``/v1/users`` and the guide's look-up under ``/api/audience/users``."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.api.auth import Principal, require
from src.api.body import number, parse
from src.api.errors import ApiError
from src.api.pagination import Cursor, Limit, page
from src.store import orgs, users

router = APIRouter(tags=["users"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=255)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()-]{4,31}$")

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value


def _with_numbers(user: dict[str, Any]) -> dict[str, Any]:
    return {**user, "balances": {k: number(v) for k, v in user["balances"].items()}}


@router.post("/v1/users", status_code=201)
async def create_user(
    request: Request, principal: Principal = Depends(require("users:write"))
) -> JSONResponse:
    body = await parse(request, UserCreate)
    user_id = body.id or f"usr_{secrets.token_hex(8)}"
    async with request.app.state.engine.begin() as conn:
        await users.create(conn, principal.org_id, user_id, body.email, body.phone)
        created = await users.get(conn, principal.org_id, user_id)
    assert created is not None
    return JSONResponse(_with_numbers(created), status_code=201)


@router.get("/v1/users")
async def list_users(
    request: Request,
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("users:read")),
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = await users.list_page(conn, principal.org_id, cursor, limit + 1)
    return page(rows, limit, users.public, lambda r: r.id)


async def _get(request: Request, org_id: str, user_id: str) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        found = await users.get(conn, org_id, user_id)
    if found is None:
        raise ApiError(404, "not_found", f"user '{user_id}' not found")
    return _with_numbers(found)


@router.get("/v1/users/{user_id}")
async def get_user(
    user_id: str, request: Request, principal: Principal = Depends(require("users:read"))
) -> dict[str, Any]:
    return await _get(request, principal.org_id, user_id)


@router.get("/api/audience/users/{user_id}")
async def audience_user(
    user_id: str, request: Request, principal: Principal = Depends(require("users:read"))
) -> dict[str, Any]:
    return await _get(request, principal.org_id, user_id)


@router.get("/api/audience/users")
async def lookup_user(
    request: Request,
    email: str | None = Query(None, max_length=320),
    phone: str | None = Query(None, max_length=32),
    externalId: str | None = Query(None, max_length=255),
    source: str | None = Query(None, max_length=64),
    principal: Principal = Depends(require("users:read")),
) -> dict[str, Any]:
    """The guide's identity mapping: ``{"userId": …}`` for an email, phone or external ID."""
    if externalId is not None or source is not None:
        if not (externalId and source):
            raise ApiError(
                422,
                "validation_failed",
                "source: give both externalId and source",
                [{"field": "source", "message": "give both externalId and source"}],
            )
        where = {"source": source, "external_id": externalId}
    elif email is not None:
        where = {"email": email.lower()}
    elif phone is not None:
        where = {"phone": phone}
    else:
        raise ApiError(
            422,
            "validation_failed",
            "query: give email, phone or externalId+source",
            [{"field": "email", "message": "give email, phone or externalId+source"}],
        )
    async with request.app.state.engine.connect() as conn:
        by = "email" if "email" in where else "phone" if "phone" in where else None
        if by is not None:
            settings = await orgs.get_settings(conn, principal.org_id)
            if not settings.get("userLookup", {}).get(by):
                raise ApiError(
                    403,
                    "lookup_disabled",
                    f"look-up by {by} is disabled for this organisation; enable it with "
                    f'PATCH /v1/org/settings {{"userLookup": {{"{by}": true}}}}',
                )
        user = await users.find(conn, principal.org_id, **where)
    if user is None:
        raise ApiError(404, "not_found", "no user matches")
    return {"userId": user.id, "email": user.email, "phone": user.phone}
