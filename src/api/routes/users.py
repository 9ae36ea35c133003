"""Users: management under ``/v1/users`` and the guide's look-up under ``/api/audience/users``.

Replies show personal data, balances, products and codes only to keys that may read users
(``src/api/scopes.py``); a clash names the user holding an identifier only to them too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Query, Response

from src.api.auth import Principal
from src.api.deps import EngineDep, UsersAdmin, UsersRead, UsersWrite
from src.api.pagination import Cursor, Limit, page
from src.api.schemas.common import Page, errors
from src.api.schemas.users import (
    TAKEN,
    Contact,
    ExternalId,
    LookupOut,
    MergeBody,
    MergedOut,
    UserCreate,
    UserOut,
    UserSummary,
)
from src.api.scopes import USER_DATA, visible
from src.domain.errors import Conflict, Invalid, NotFound
from src.domain.identity import normalize_email
from src.services import identity

router = APIRouter(tags=["users"])


@asynccontextmanager
async def _discreet(principal: Principal) -> AsyncIterator[None]:
    """Who holds an identifier, or what a merged user became, is a user's identity: named
    only to keys that may read users."""
    try:
        yield
    except Conflict as exc:
        if principal.holds(USER_DATA) or "userId" not in (exc.details or {}):
            raise
        raise Conflict("this id, email, phone or external ID is taken by another user") from exc
    except NotFound as exc:
        if principal.holds(USER_DATA) or exc.code != "merged":
            raise
        raise NotFound("user not found") from exc


def _user(principal: Principal, reply: UserOut) -> dict[str, Any]:
    return visible(principal, "user", reply)


@router.post(
    "/v1/users",
    status_code=201,
    response_model=UserOut,
    operation_id="createUser",
    responses=errors(409, 413, 422, examples=TAKEN),
)
async def create_user(body: UserCreate, principal: UsersWrite, engine: EngineDep) -> dict[str, Any]:
    async with _discreet(principal):
        created = await identity.create(
            engine,
            principal.org_id,
            body.id or identity.new_id(),
            body.email,
            body.phone,
            [(e.source, e.externalId) for e in body.externalIds],
        )
    return _user(principal, UserOut.of(created))


@router.get(
    "/v1/users", response_model=Page[UserSummary], operation_id="listUsers", responses=errors(422)
)
async def list_users(
    principal: UsersRead, engine: EngineDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[UserSummary]:
    rows = await identity.page(engine, principal.org_id, cursor, limit + 1)
    return page(rows, limit, UserSummary.model_validate, lambda r: r.id)


@router.get(
    "/v1/users/{user_id}", response_model=UserOut, operation_id="getUser", responses=errors(404)
)
async def get_user(user_id: str, principal: UsersRead, engine: EngineDep) -> dict[str, Any]:
    return _user(principal, UserOut.of(await identity.get(engine, principal.org_id, user_id)))


@router.patch(
    "/v1/users/{user_id}",
    response_model=UserOut,
    operation_id="updateUser",
    responses=errors(404, 409, 413, 422, examples=TAKEN),
)
async def patch_user(
    user_id: str, body: Contact, principal: UsersWrite, engine: EngineDep
) -> dict[str, Any]:
    """Set or clear (``null``) email and phone."""
    async with _discreet(principal):
        changed = await identity.change_contact(
            engine, principal.org_id, user_id, body.model_dump(exclude_unset=True)
        )
    return _user(principal, UserOut.of(changed))


@router.delete(
    "/v1/users/{user_id}", status_code=204, operation_id="eraseUser", responses=errors(404)
)
async def delete_user(user_id: str, principal: UsersAdmin, engine: EngineDep) -> Response:
    """Erase personal data; ledger rows stay, anonymised, so every total stays exact."""
    await identity.erase(engine, principal.org_id, user_id)
    return Response(status_code=204)


@router.post(
    "/v1/users/{user_id}/external-ids",
    status_code=201,
    response_model=UserOut,
    operation_id="addExternalId",
    responses=errors(404, 409, 413, 422),
)
async def add_external_id(
    user_id: str, body: ExternalId, principal: UsersWrite, engine: EngineDep
) -> dict[str, Any]:
    async with _discreet(principal):
        changed = await identity.add_external_id(
            engine, principal.org_id, user_id, body.source, body.externalId
        )
    return _user(principal, UserOut.of(changed))


@router.delete(
    "/v1/users/{user_id}/external-ids",
    status_code=204,
    operation_id="removeExternalId",
    responses=errors(404, 422),
)
async def remove_external_id(
    user_id: str,
    principal: UsersWrite,
    engine: EngineDep,
    source: str = Query(..., max_length=64),
    externalId: str = Query(..., max_length=255),
) -> Response:
    await identity.remove_external_id(engine, principal.org_id, user_id, source, externalId)
    return Response(status_code=204)


@router.post(
    "/v1/users/{user_id}/merge",
    response_model=MergedOut,
    operation_id="mergeUsers",
    responses=errors(404, 409, 413, 422),
)
async def merge_users(
    user_id: str, body: MergeBody, principal: UsersAdmin, engine: EngineDep
) -> dict[str, Any]:
    """Move ``fromUserId``'s identities, ledger history, balances, codes and limit counters
    to this user; ``fromUserId`` names this user from now on."""
    survivor, moved = await identity.merge(engine, principal.org_id, user_id, body.fromUserId)
    reply = MergedOut(**UserOut.of(survivor).model_dump(), merged_ledger_entries=moved)
    return visible(principal, "user", reply)


@router.get(
    "/api/audience/users/{user_id}",
    response_model=UserOut,
    operation_id="getAudienceUser",
    responses=errors(404),
)
async def audience_user(user_id: str, principal: UsersRead, engine: EngineDep) -> dict[str, Any]:
    return _user(principal, UserOut.of(await identity.get(engine, principal.org_id, user_id)))


@router.get(
    "/api/audience/users",
    response_model=LookupOut,
    operation_id="lookUpUser",
    responses=errors(404, 422),
)
async def lookup_user(
    principal: UsersRead,
    engine: EngineDep,
    email: str | None = Query(None, max_length=320),
    phone: str | None = Query(None, max_length=32),
    externalId: str | None = Query(None, max_length=255),
    source: str | None = Query(None, max_length=64),
) -> LookupOut:
    """The guide's identity mapping: ``{"userId": …}`` for an email or phone (where the org
    enabled that look-up) or an external ID under its source."""
    if externalId is not None or source is not None:
        if not (externalId and source):
            raise Invalid.field("source", "give both externalId and source")
        where = {"source": source, "external_id": externalId}
    elif email is not None:
        where = {"email": normalize_email(email)}
    elif phone is not None:
        where = {"phone": await identity.phone_of(engine, principal.org_id, phone) or ""}
    else:
        raise Invalid.field("email", "give email, phone or externalId+source")
    found = await identity.lookup(engine, principal.org_id, where)
    return LookupOut(user_id=found.id, email=found.email, phone=found.phone)
