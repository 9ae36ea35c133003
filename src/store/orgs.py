"""Organisations and their API keys. Secrets are stored only as SHA-256 digests: they are 256
random bits, so a fast hash is as safe as a slow one and costs nothing per request."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import cast, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.store import changes
from src.store.tables import ApiKey, Org

ALL_SCOPES = (
    "actions:write",
    "users:read",
    "users:write",
    "campaigns:read",
    "campaigns:write",
    "transactions:read",
    "admin",
)


@dataclass(frozen=True)
class KeyRecord:
    id: str
    org_id: str
    scopes: frozenset[str]
    expires_at: datetime | None
    rate_limit: dict[str, int] | None  # the org's override of the default rate limit


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_org(conn: AsyncConnection, name: str, org_id: str | None = None) -> str:
    org_id = org_id or str(uuid.uuid4())
    await conn.execute(insert(Org).values(id=org_id, name=name))
    return org_id


async def merge_settings(
    conn: AsyncConnection, org_id: str, patch: dict[str, Any]
) -> dict[str, Any] | None:
    """Merge top-level keys into the org's settings in one statement, so concurrent edits of
    different keys both survive; None for an unknown org."""
    merged = await conn.scalar(
        update(Org)
        .where(Org.id == org_id)
        .values(settings=Org.settings.op("||")(cast(patch, JSONB)))
        .returning(Org.settings)
    )
    return None if merged is None else dict(merged)


async def set_rate_limit(conn: AsyncConnection, org_id: str, per_second: int, burst: int) -> bool:
    """An operator's per-org override of the default rate limit."""
    limit = {"rateLimit": {"perSecond": per_second, "burst": burst}}
    await changes.announce(conn, "keys")  # verified keys carry the org's rate
    return await merge_settings(conn, org_id, limit) is not None


async def get_settings(conn: AsyncConnection, org_id: str) -> dict[str, Any]:
    return dict(await conn.scalar(select(Org.settings).where(Org.id == org_id)) or {})


async def create_key(
    conn: AsyncConnection, org_id: str, name: str, scopes: list[str]
) -> tuple[str, str]:
    """Returns (key ID, secret); the secret is shown once and never stored."""
    key_id = f"key_{secrets.token_hex(8)}"
    secret = f"lsk_{secrets.token_urlsafe(32)}"
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
        }
        for r in rows
    ]


async def rotate_key(
    conn: AsyncConnection, org_id: str, key_id: str, grace_seconds: int
) -> tuple[str, str, str] | None:
    """New key with the old one's name and scopes; the old expires after the grace period."""
    old = (
        await conn.execute(
            update(ApiKey)
            .where(ApiKey.org_id == org_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(
                expires_at=func.least(
                    func.coalesce(ApiKey.expires_at, text("'infinity'::timestamptz")),
                    func.now() + timedelta(seconds=grace_seconds),
                )
            )
            .returning(ApiKey.name, ApiKey.scopes, ApiKey.expires_at)
        )
    ).first()
    if old is None:
        return None
    new_id, secret = await create_key(conn, org_id, old.name, list(old.scopes))
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
