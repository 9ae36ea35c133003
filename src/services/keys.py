"""API keys: issue, list, rotate (the old secret lives on for a grace period), revoke, and
find the live key a secret belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.errors import Conflict, NotFound
from src.store import changes, keys
from src.store.keys import KeyRecord, KeyView, digest, key_hint

__all__ = ["KeyRecord", "digest", "find", "issue", "key_hint", "list_all", "revoke", "rotate"]


@dataclass(frozen=True)
class Issued:
    """A new key and its secret, which is shown this once."""

    id: str
    secret: str
    name: str
    scopes: list[str]


@dataclass(frozen=True)
class Rotated:
    id: str
    secret: str
    replaces: str
    old_key_expires_at: datetime


async def issue(engine: AsyncEngine, org_id: str, name: str, scopes: list[str]) -> Issued:
    async with engine.begin() as conn:
        key_id, secret = await keys.create(conn, org_id, name, scopes)
    return Issued(key_id, secret, name, scopes)


async def list_all(engine: AsyncEngine, org_id: str) -> list[KeyView]:
    async with engine.connect() as conn:
        return await keys.list_all(conn, org_id)


async def rotate(engine: AsyncEngine, org_id: str, key_id: str, grace_seconds: int) -> Rotated:
    """A new key with the old one's name, scopes and budget; the old expires after the grace
    period. Only a live key not rotated before can be: a rotation never mints a second live
    successor, nor revives an expired or revoked key."""
    successor = keys.new_id()
    async with engine.begin() as conn:
        retired = await keys.retire(conn, org_id, key_id, successor, grace_seconds)
        if retired is None:
            found = await keys.get(conn, org_id, key_id)
            if found is None:
                raise NotFound(f"API key '{key_id}' not found")
            if found.replaced_by is not None:
                raise Conflict(
                    f"API key '{key_id}' was already rotated; rotate its successor "
                    f"'{found.replaced_by}' instead",
                    {"replacedBy": found.replaced_by},
                )
            raise Conflict(f"API key '{key_id}' is revoked or expired; create a new key instead")
        old = retired.key
        _, secret = await keys.create(
            conn, org_id, old.name, list(old.scopes), successor, old.rate_limit, old.lineage
        )
        await changes.announce(conn, "keys", org_id, key_id)
    return Rotated(successor, secret, key_id, retired.expires_at)


async def revoke(engine: AsyncEngine, org_id: str, key_id: str, caller: str) -> None:
    """Revoke at once. Not the caller's own key: the request would cut itself off, and an org
    whose last admin key did so could not get back in without an operator."""
    if key_id == caller:
        raise Conflict(
            f"API key '{key_id}' is the key making this request; revoke it with another admin "
            "key (or rotate it)",
            code="key_in_use",
        )
    async with engine.begin() as conn:
        if not await keys.revoke(conn, org_id, key_id):
            raise NotFound(f"API key '{key_id}' not found or already revoked")


async def find(engine: AsyncEngine, secret: str) -> KeyRecord | None:
    async with engine.connect() as conn:
        return await keys.find(conn, secret)
