"""API keys: create, list, rotate (the old secret lives on for a grace period), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response

from src.api.deps import Admin, EngineDep, KeyCacheDep
from src.api.schemas.api_keys import KeyCreate, KeyIssued, KeyOut, KeyRotate, KeyRotated
from src.api.schemas.common import Page, errors
from src.services import keys

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])
_DEFAULT_ROTATION = KeyRotate()


@router.post(
    "",
    status_code=201,
    response_model=KeyIssued,
    operation_id="createApiKey",
    responses=errors(422),
)
async def create_key(body: KeyCreate, principal: Admin, engine: EngineDep) -> KeyIssued:
    """A new key with the given scopes; its secret is in this reply only."""
    issued = await keys.issue(engine, principal.org_id, body.name, body.scopes)
    return KeyIssued.model_validate(issued)


@router.get("", response_model=Page[KeyOut], operation_id="listApiKeys", responses=errors())
async def list_keys(principal: Admin, engine: EngineDep) -> Page[KeyOut]:
    rows = await keys.list_all(engine, principal.org_id)
    return Page[KeyOut](data=[KeyOut.model_validate(r) for r in rows])


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    response_model=KeyRotated,
    operation_id="rotateApiKey",
    responses=errors(404, 409, 422),
)
async def rotate_key(
    key_id: str,
    principal: Admin,
    engine: EngineDep,
    cache: KeyCacheDep,
    body: KeyRotate = _DEFAULT_ROTATION,
) -> KeyRotated:
    """A new key with the same name and scopes; the old one expires after ``graceSeconds``.
    A key can be rotated once: a rotated, expired or revoked one is a 409."""
    rotated = await keys.rotate(engine, principal.org_id, key_id, body.graceSeconds)
    cache.forget(principal.org_id, key_id)
    return KeyRotated.model_validate(rotated)


@router.delete(
    "/{key_id}", status_code=204, operation_id="revokeApiKey", responses=errors(404, 409)
)
async def revoke_key(
    key_id: str, principal: Admin, engine: EngineDep, cache: KeyCacheDep
) -> Response:
    """Revoke a key at once (409 ``key_in_use`` for the key making the request)."""
    await keys.revoke(engine, principal.org_id, key_id, principal.key_id)
    cache.forget(principal.org_id, key_id)
    return Response(status_code=204)
