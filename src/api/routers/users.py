"""Users: management under ``/v1/users`` and the guide's look-up under ``/api/audience/users``."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.api.auth import Principal, require
from src.api.body import number, parse
from src.api.errors import ApiError
from src.api.pagination import Cursor, Limit, page
from src.api.scopes import USER_DATA, visible
from src.domain.errors import Conflict
from src.domain.identity import contact_shaped, normalize_email, normalize_phone
from src.store import orgs, users

router = APIRouter(tags=["users"])
Source = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class ExternalId(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Source
    externalId: str = Field(min_length=1, max_length=255)


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=32)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalize_email(value) if value else value


class UserCreate(Contact):
    id: str | None = Field(default=None, min_length=1, max_length=255)
    externalIds: list[ExternalId] = Field(default_factory=list, max_length=50)

    @field_validator("id")
    @classmethod
    def _not_contact(cls, value: str | None) -> str | None:
        if value is not None and contact_shaped(value):
            raise ValueError(
                "may not look like an email or a phone number (set those as email and phone)"
            )
        return value


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fromUserId: str = Field(min_length=1, max_length=255)


async def _phone(request: Request, org_id: str, raw: str | None) -> str | None:
    """E.164, using the org's ``phoneRegion`` for numbers without a country code."""
    if raw is None:
        return None
    async with request.app.state.engine.connect() as conn:
        region = (await orgs.get_settings(conn, org_id)).phoneRegion
    phone = normalize_phone(raw, region)
    if phone is None:
        message = "not a valid phone number" + (
            "" if region else "; use +<country code> or set phoneRegion in /v1/org/settings"
        )
        raise ApiError(
            422, "validation_failed", f"phone: {message}", [{"field": "phone", "message": message}]
        )
    return phone


def _render(user: dict[str, Any]) -> dict[str, Any]:
    return {**user, "balances": {k: number(v) for k, v in user["balances"].items()}}


async def _get(request: Request, principal: Principal, user_id: str) -> dict[str, Any]:
    """The user as the principal may see it (``scopes``)."""
    org_id = principal.org_id
    async with request.app.state.engine.connect() as conn:
        found = await users.get(conn, org_id, user_id)
        survivor = None if found else await users.merged_into(conn, org_id, user_id)
    if found is None:
        if survivor and principal.holds(USER_DATA):  # who the survivor is: a user's identity
            raise ApiError(
                404,
                "merged",
                f"user '{user_id}' was merged into '{survivor}'",
                {"mergedInto": survivor},
            )
        raise ApiError(404, "not_found", f"user '{user_id}' not found")
    return visible(principal, "user", _render(found))


def _unnamed(principal: Principal, exc: Conflict) -> Conflict:
    """A clash names the user who holds the identifier only to a key that may read users."""
    if principal.holds(USER_DATA):
        return exc
    return Conflict("this id, email, phone or external ID is taken by another user")


@router.post("/v1/users", status_code=201)
async def create_user(
    request: Request, principal: Principal = Depends(require("users:write"))
) -> JSONResponse:
    body = await parse(request, UserCreate)
    phone = await _phone(request, principal.org_id, body.phone)
    user_id = body.id or f"usr_{secrets.token_hex(8)}"
    try:
        async with request.app.state.engine.begin() as conn:
            await users.create(
                conn,
                principal.org_id,
                user_id,
                body.email,
                phone,
                [(e.source, e.externalId) for e in body.externalIds],
            )
    except Conflict as exc:
        raise _unnamed(principal, exc) from exc
    return JSONResponse(await _get(request, principal, user_id), status_code=201)


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


@router.get("/v1/users/{user_id}")
async def get_user(
    user_id: str, request: Request, principal: Principal = Depends(require("users:read"))
) -> dict[str, Any]:
    return await _get(request, principal, user_id)


@router.patch("/v1/users/{user_id}")
async def patch_user(
    user_id: str, request: Request, principal: Principal = Depends(require("users:write"))
) -> dict[str, Any]:
    """Set or clear (``null``) email and phone."""
    body = await parse(request, Contact)
    changes: dict[str, str | None] = body.model_dump(exclude_unset=True)
    if "phone" in changes:
        changes["phone"] = await _phone(request, principal.org_id, changes["phone"])
    await _get(request, principal, user_id)
    if changes:
        try:
            async with request.app.state.engine.begin() as conn:
                await users.update_contact(conn, principal.org_id, user_id, changes)
        except Conflict as exc:
            raise _unnamed(principal, exc) from exc
    return await _get(request, principal, user_id)


@router.delete("/v1/users/{user_id}", status_code=204)
async def delete_user(
    user_id: str, request: Request, principal: Principal = Depends(require("users:admin"))
) -> Response:
    """Erase personal data; ledger rows stay, anonymised, so every total stays exact."""
    async with request.app.state.engine.begin() as conn:
        await users.erase(conn, principal.org_id, user_id)
    return Response(status_code=204)


@router.post("/v1/users/{user_id}/external-ids", status_code=201)
async def add_external_id(
    user_id: str, request: Request, principal: Principal = Depends(require("users:write"))
) -> JSONResponse:
    body = await parse(request, ExternalId)
    await _get(request, principal, user_id)
    try:
        async with request.app.state.engine.begin() as conn:
            await users.add_identity(conn, principal.org_id, user_id, body.source, body.externalId)
    except Conflict as exc:
        raise _unnamed(principal, exc) from exc
    return JSONResponse(await _get(request, principal, user_id), status_code=201)


@router.delete("/v1/users/{user_id}/external-ids", status_code=204)
async def remove_external_id(
    user_id: str,
    request: Request,
    source: str = Query(..., max_length=64),
    externalId: str = Query(..., max_length=255),
    principal: Principal = Depends(require("users:write")),
) -> Response:
    async with request.app.state.engine.begin() as conn:
        if not await users.remove_identity(conn, principal.org_id, user_id, source, externalId):
            raise ApiError(404, "not_found", f"user '{user_id}' has no {source} ID '{externalId}'")
    return Response(status_code=204)


@router.post("/v1/users/{user_id}/merge")
async def merge_users(
    user_id: str, request: Request, principal: Principal = Depends(require("users:admin"))
) -> dict[str, Any]:
    """Move ``fromUserId``'s identities, ledger history and balances to this user."""
    body = await parse(request, MergeBody)
    async with request.app.state.engine.begin() as conn:
        moved = await users.merge(conn, principal.org_id, user_id, body.fromUserId)
    return {**await _get(request, principal, user_id), "mergedLedgerEntries": moved}


@router.get("/api/audience/users/{user_id}")
async def audience_user(
    user_id: str, request: Request, principal: Principal = Depends(require("users:read"))
) -> dict[str, Any]:
    return await _get(request, principal, user_id)


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
        where = {"email": normalize_email(email)}
    elif phone is not None:
        where = {"phone": await _phone(request, principal.org_id, phone) or ""}
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
            if not getattr(settings.userLookup, by):
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
