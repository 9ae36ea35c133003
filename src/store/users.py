"""Users, their external identities and balances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.errors import Conflict
from src.store.tables import Balance, LedgerEntry, User, UserIdentity


@dataclass(frozen=True)
class Resolution:
    settings: dict[str, Any]
    user: dict[str, Any] | None


_RESOLVE = text(
    """
    SELECT o.settings, u.id, u.email, u.phone
    FROM orgs o
    LEFT JOIN users u ON u.org_id = o.id AND u.id = COALESCE(
        (SELECT d.id FROM users d WHERE d.org_id = o.id AND d.id = :ref),
        (SELECT i.user_id FROM user_identities i
         WHERE i.org_id = o.id AND i.source = :source AND i.external_id = :ref))
    WHERE o.id = :org_id
    """
)


async def resolve(conn: AsyncConnection, org_id: str, ref: str, source: str | None) -> Resolution:
    """Platform ID first, then the external ID under ``metadata.source``; one round trip."""
    row = (await conn.execute(_RESOLVE, {"org_id": org_id, "ref": ref, "source": source})).one()
    user = None if row.id is None else {"id": row.id, "email": row.email, "phone": row.phone}
    return Resolution(settings=row.settings or {}, user=user)


async def enroll(
    conn: AsyncConnection, org_id: str, ref: str, source: str | None
) -> dict[str, Any]:
    """Create the user an action names; concurrent first actions create it once."""
    await conn.execute(insert(User).values(org_id=org_id, id=ref).on_conflict_do_nothing())
    if source:
        await conn.execute(
            insert(UserIdentity)
            .values(org_id=org_id, source=source, external_id=ref, user_id=ref)
            .on_conflict_do_nothing()
        )
    return {"id": ref, "email": None, "phone": None}


async def create(
    conn: AsyncConnection, org_id: str, user_id: str, email: str | None, phone: str | None
) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(User).values(org_id=org_id, id=user_id, email=email, phone=phone)
            )
    except IntegrityError as exc:
        clash = await conn.scalar(
            select(User.id).where(
                User.org_id == org_id,
                (User.id == user_id) | (User.email == email) | (User.phone == phone),
            )
        )
        raise Conflict(
            f"user '{clash}' already has this id, email or phone", {"userId": clash}
        ) from exc


async def get(conn: AsyncConnection, org_id: str, user_id: str) -> dict[str, Any] | None:
    user = (
        await conn.execute(select(User).where(User.org_id == org_id, User.id == user_id))
    ).first()
    if user is None:
        return None
    balances = (
        await conn.execute(
            select(Balance.currency, Balance.balance)
            .where(Balance.org_id == org_id, Balance.user_id == user_id)
            .order_by(Balance.currency)
        )
    ).all()
    products = (
        await conn.execute(
            select(LedgerEntry.product_id, text("count(*) AS quantity"))
            .where(
                LedgerEntry.org_id == org_id,
                LedgerEntry.user_id == user_id,
                LedgerEntry.type == "product",
            )
            .group_by(LedgerEntry.product_id)
            .order_by(LedgerEntry.product_id)
        )
    ).all()
    codes = (
        await conn.scalars(
            select(LedgerEntry.code)
            .where(
                LedgerEntry.org_id == org_id,
                LedgerEntry.user_id == user_id,
                LedgerEntry.type == "code",
            )
            .order_by(LedgerEntry.id)
        )
    ).all()
    return {
        **public(user),
        "balances": {b.currency: b.balance for b in balances},
        "products": [{"productId": p.product_id, "quantity": p.quantity} for p in products],
        "codes": list(codes),
    }


def public(user: Row[Any]) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "phone": user.phone,
        "createdAt": user.created_at.isoformat(),
    }


async def list_page(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> list[Row[Any]]:
    query = select(User).where(User.org_id == org_id).order_by(User.id).limit(limit)
    if after:
        query = query.where(User.id > after)
    return list((await conn.execute(query)).all())


async def find(conn: AsyncConnection, org_id: str, **where: str) -> Row[Any] | None:
    """Look-up by email or phone, or by (source, externalId)."""
    query = select(User).where(User.org_id == org_id)
    if "external_id" in where:
        query = query.join(
            UserIdentity,
            (UserIdentity.org_id == User.org_id) & (UserIdentity.user_id == User.id),
        ).where(
            UserIdentity.source == where["source"], UserIdentity.external_id == where["external_id"]
        )
    elif "email" in where:
        query = query.where(User.email == where["email"])
    else:
        query = query.where(User.phone == where["phone"])
    return (await conn.execute(query)).first()
