"""Organisations and their API keys. Secrets are stored only as SHA-256 digests: they are 256
random bits, so a fast hash is as safe as a slow one and costs nothing per request."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import cast, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.errors import Conflict, NotFound
from src.domain.scopes import SCOPES
from src.domain.settings import OrgSettings
from src.store import changes
from src.store.tables import ApiKey, Org

ALL_SCOPES = SCOPES


@dataclass(frozen=True)
class KeyRecord:
    id: str
    org_id: str
    scopes: frozenset[str]
    expires_at: datetime | None
    rate_limit: dict[str, int] | None  # the org's override of the default rate limit
    key_rate_limit: dict[str, int] | None  # this key's own budget, if it has one


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_hint(secret: str) -> str | None:
    """The key ID a secret names (``lsk_<key>_<random>``), so failed attempts at one key can be
    throttled before any database work; None for a secret of the older, unnamed form."""
    parts = secret.split("_", 2)
    if len(parts) == 3 and parts[0] == "lsk" and re.fullmatch(r"[0-9a-f]{16}", parts[1]):
        return f"key_{parts[1]}"
    return None


async def create_org(conn: AsyncConnection, name: str, org_id: str | None = None) -> str:
    org_id = org_id or str(uuid.uuid4())
    await conn.execute(insert(Org).values(id=org_id, name=name))
    return org_id


async def merge_settings(
    conn: AsyncConnection, org_id: str, patch: dict[str, Any]
) -> OrgSettings | None:
    """Merge top-level keys into the org's settings in one statement, so concurrent edits of
    different keys both survive; None for an unknown org."""
    merged = await conn.scalar(
        update(Org)
        .where(Org.id == org_id)
        .values(settings=Org.settings.op("||")(cast(patch, JSONB)))
        .returning(Org.settings)
    )
    return None if merged is None else OrgSettings.of(merged)


async def set_rate_limit(conn: AsyncConnection, org_id: str, per_second: int, burst: int) -> bool:
    """An operator's per-org override of the default rate limit."""
    limit = {"rateLimit": {"perSecond": per_second, "burst": burst}}
    await changes.announce(conn, "keys")  # verified keys carry the org's rate
    return await merge_settings(conn, org_id, limit) is not None


async def set_key_rate_limit(
    conn: AsyncConnection, org_id: str, key_id: str, per_second: int, burst: int
) -> bool:
    """An operator's budget for one key, within its org's."""
    await changes.announce(conn, "keys")
    done = await conn.scalar(
        update(ApiKey)
        .where(ApiKey.org_id == org_id, ApiKey.id == key_id)
        .values(rate_limit={"perSecond": per_second, "burst": burst})
        .returning(ApiKey.id)
    )
    return done is not None


async def get_settings(conn: AsyncConnection, org_id: str) -> OrgSettings:
    return OrgSettings.of(await conn.scalar(select(Org.settings).where(Org.id == org_id)))


async def create_key(
    conn: AsyncConnection, org_id: str, name: str, scopes: list[str], key_id: str | None = None
) -> tuple[str, str]:
    """Returns (key ID, secret); the secret is shown once and never stored."""
    key_id = key_id or f"key_{secrets.token_hex(8)}"
    secret = f"lsk_{key_id[4:]}_{secrets.token_urlsafe(32)}"
    await conn.execute(
        insert(ApiKey).values(
            id=key_id, org_id=org_id, name=name, secret_hash=digest(secret), scopes=scopes
        )
    )
    return key_id, secret


async def find_key(conn: AsyncConnection, secret: str) -> KeyRecord | None:
    """The live key for this secret; the unique index on the digest makes it one probe."""
    row = (
        await conn.execute(
            select(
                ApiKey.id,
                ApiKey.org_id,
                ApiKey.scopes,
                ApiKey.expires_at,
                Org.settings["rateLimit"].label("rate_limit"),
                ApiKey.rate_limit.label("key_rate_limit"),
            )
            .join(Org, Org.id == ApiKey.org_id)
            .where(
                ApiKey.secret_hash == digest(secret),
                ApiKey.revoked_at.is_(None),
                (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > func.now()),
            )
        )
    ).first()
    if row is None:
        return None
    return KeyRecord(
        id=row.id,
        org_id=str(row.org_id),
        scopes=frozenset(row.scopes),
        expires_at=row.expires_at,
        rate_limit=row.rate_limit,
        key_rate_limit=row.key_rate_limit,
    )


async def list_keys(conn: AsyncConnection, org_id: str) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            select(
                ApiKey.id,
                ApiKey.name,
                ApiKey.scopes,
                ApiKey.created_at,
                ApiKey.expires_at,
                ApiKey.revoked_at,
                ApiKey.replaced_by,
            )
            .where(ApiKey.org_id == org_id)
            .order_by(ApiKey.created_at, ApiKey.id)
        )
    ).all()
    return [
        {
            "id": r.id,
            "name": r.name,
            "scopes": list(r.scopes),
            "createdAt": r.created_at.isoformat(),
            "expiresAt": r.expires_at.isoformat() if r.expires_at else None,
            "revokedAt": r.revoked_at.isoformat() if r.revoked_at else None,
            "replacedBy": r.replaced_by,
        }
        for r in rows
    ]


async def rotate_key(
    conn: AsyncConnection, org_id: str, key_id: str, grace_seconds: int
) -> tuple[str, str, str]:
    """New key with the old one's name, scopes and budget; the old expires after the grace
    period. Only a live key that was not rotated before can be: a rotation never mints a
    second live successor, nor revives an expired or revoked key."""
    new_id, secret = f"key_{secrets.token_hex(8)}", None
    old = (
        await conn.execute(
            update(ApiKey)
            .where(
                ApiKey.org_id == org_id,
                ApiKey.id == key_id,
                ApiKey.revoked_at.is_(None),
                ApiKey.replaced_by.is_(None),
                (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > func.now()),
            )
            .values(
                replaced_by=new_id,
                expires_at=func.least(
                    func.coalesce(ApiKey.expires_at, text("'infinity'::timestamptz")),
                    func.now() + timedelta(seconds=grace_seconds),
                ),
            )
            .returning(ApiKey.name, ApiKey.scopes, ApiKey.expires_at, ApiKey.rate_limit)
        )
    ).first()
    if old is None:
        state = (
            await conn.execute(
                select(ApiKey.revoked_at, ApiKey.replaced_by, ApiKey.expires_at).where(
                    ApiKey.org_id == org_id, ApiKey.id == key_id
                )
            )
        ).first()
        if state is None:
            raise NotFound(f"API key '{key_id}' not found")
        if state.replaced_by is not None:
            raise Conflict(
                f"API key '{key_id}' was already rotated; rotate its successor "
                f"'{state.replaced_by}' instead",
                {"replacedBy": state.replaced_by},
            )
        raise Conflict(f"API key '{key_id}' is revoked or expired; create a new key instead")
    new_id, secret = await create_key(conn, org_id, old.name, list(old.scopes), new_id)
    if old.rate_limit:
        await conn.execute(
            update(ApiKey).where(ApiKey.id == new_id).values(rate_limit=old.rate_limit)
        )
    await changes.announce(conn, "keys")
    return new_id, secret, old.expires_at.isoformat()


async def revoke_key(conn: AsyncConnection, org_id: str, key_id: str) -> bool:
    revoked = await conn.scalar(
        update(ApiKey)
        .where(ApiKey.org_id == org_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiKey.id)
    )
    await changes.announce(conn, "keys")
    return revoked is not None
