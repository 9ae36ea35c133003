"""API keys. Secrets are stored only as SHA-256 digests: they are 256 random bits, so a fast
hash is as safe as a slow one and costs nothing per request."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.store import changes
from src.store.records import record, records
from src.store.tables import ApiKey, Org

_LIVE = (
    ApiKey.revoked_at.is_(None),
    (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > func.now()),
)


@dataclass(frozen=True)
class KeyRecord:
    id: str
    org_id: str
    scopes: frozenset[str]
    expires_at: datetime | None
    rate_limit: dict[str, int] | None  # the org's override of the default rate limit
    key_rate_limit: dict[str, int] | None  # this key's own budget, if it has one
    lineage: str  # the first key of its rotation chain


@dataclass(frozen=True)
class KeyView:
    """A key as its org's admins see it (never its secret or digest)."""

    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None  # its successor, once rotated
    rate_limit: dict[str, int] | None  # its own budget, within the org's
    lineage: str


@dataclass(frozen=True)
class Retired:
    key: KeyView
    expires_at: datetime  # the end of its grace period, or its own expiry if sooner


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_hint(secret: str) -> str | None:
    """The key ID a secret names (``lsk_<key>_<random>``), so failed attempts at one key can be
    throttled before any database work; None for a secret of the older, unnamed form."""
    parts = secret.split("_", 2)
    if len(parts) == 3 and parts[0] == "lsk" and re.fullmatch(r"[0-9a-f]{16}", parts[1]):
        return f"key_{parts[1]}"
    return None


def new_id() -> str:
    return f"key_{secrets.token_hex(8)}"


async def create(
    conn: AsyncConnection,
    org_id: str,
    name: str,
    scopes: list[str],
    key_id: str | None = None,
    rate_limit: dict[str, int] | None = None,
    lineage: str | None = None,
) -> tuple[str, str]:
    """Returns (key ID, secret); the secret is shown once and never stored. ``lineage``: the
    chain a rotated key's successor continues (a new key starts its own)."""
    key_id = key_id or new_id()
    secret = f"lsk_{key_id[4:]}_{secrets.token_urlsafe(32)}"
    await conn.execute(
        insert(ApiKey).values(
            id=key_id,
            org_id=org_id,
            name=name,
            secret_hash=digest(secret),
            scopes=scopes,
            rate_limit=rate_limit,
            lineage=lineage or key_id,
        )
    )
    return key_id, secret


async def find(conn: AsyncConnection, secret: str) -> KeyRecord | None:
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
                ApiKey.lineage,
            )
            .join(Org, Org.id == ApiKey.org_id)
            .where(ApiKey.secret_hash == digest(secret), *_LIVE)
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
        lineage=row.lineage,
    )


async def list_all(conn: AsyncConnection, org_id: str) -> list[KeyView]:
    return records(
        KeyView,
        await conn.execute(
            select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at, ApiKey.id)
        ),
    )


async def get(conn: AsyncConnection, org_id: str, key_id: str) -> KeyView | None:
    row = (
        await conn.execute(select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.id == key_id))
    ).first()
    return None if row is None else record(KeyView, row)


async def retire(
    conn: AsyncConnection, org_id: str, key_id: str, successor: str, grace_seconds: int
) -> Retired | None:
    """Mark a live, never-rotated key replaced by ``successor``, expiring after the grace
    period; None when the key is not such a key."""
    row = (
        await conn.execute(
            update(ApiKey)
            .where(
                ApiKey.org_id == org_id, ApiKey.id == key_id, ApiKey.replaced_by.is_(None), *_LIVE
            )
            .values(
                replaced_by=successor,
                expires_at=func.least(
                    func.coalesce(ApiKey.expires_at, text("'infinity'::timestamptz")),
                    func.now() + timedelta(seconds=grace_seconds),
                ),
            )
            .returning(ApiKey)
        )
    ).first()
    return None if row is None else Retired(record(KeyView, row), row.expires_at)


async def revoke(conn: AsyncConnection, org_id: str, key_id: str) -> bool:
    revoked = await conn.scalar(
        update(ApiKey)
        .where(ApiKey.org_id == org_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiKey.id)
    )
    if revoked is not None:  # every API process drops it from its cache
        await changes.announce(conn, "keys", org_id, key_id)
    return revoked is not None


async def set_rate_limit(
    conn: AsyncConnection, org_id: str, key_id: str, per_second: int, burst: int
) -> bool:
    """An operator's budget for one key, within its org's."""
    done = await conn.scalar(
        update(ApiKey)
        .where(ApiKey.org_id == org_id, ApiKey.id == key_id)
        .values(rate_limit={"perSecond": per_second, "burst": burst})
        .returning(ApiKey.id)
    )
    if done is not None:
        await changes.announce(conn, "keys", org_id, key_id)
    return done is not None
