"""Users and their external identities: resolution, reads, writes and the locks that order
them (merging and erasure move holdings: ``store.holdings``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from src.domain.identity import lookup_keys
from src.domain.settings import OrgSettings
from src.domain.users import UserRecord, UserView
from src.store.pages import keyset_page
from src.store.records import record, records
from src.store.tables import Balance, LedgerEntry, User, UserIdentity

LIVE = (User.merged_into.is_(None), User.deleted_at.is_(None))


@dataclass(frozen=True)
class Resolution:
    settings: OrgSettings
    user: dict[str, Any] | None


# One round trip, first hit wins: platform ID (an alias resolves to its survivor), external ID
# under metadata.source, then email and phone where the org enabled look-up by them.
RESOLVE_SQL = """
    SELECT o.settings, u.id, u.email, u.phone
    FROM orgs o
    LEFT JOIN users u ON u.org_id = o.id AND u.deleted_at IS NULL AND u.id = COALESCE(
        (SELECT COALESCE(d.merged_into, d.id) FROM users d
         WHERE d.org_id = o.id AND d.id = :ref AND d.deleted_at IS NULL),
        (SELECT i.user_id FROM user_identities i
         WHERE i.org_id = o.id AND i.source = :source AND i.external_id = :ref),
        (SELECT e.id FROM users e
         WHERE e.org_id = o.id AND e.email = :email
           AND COALESCE((o.settings #>> '{userLookup,email}')::boolean, false)),
        (SELECT p.id FROM users p
         WHERE p.org_id = o.id AND p.phone = :phone
           AND COALESCE((o.settings #>> '{userLookup,phone}')::boolean, false)))
    WHERE o.id = :org_id
"""
_RESOLVE = text(RESOLVE_SQL)


def resolve_params(org_id: str, ref: str, source: str | None) -> dict[str, Any]:
    email, phone = lookup_keys(ref)
    return {"org_id": org_id, "ref": ref, "source": source, "email": email, "phone": phone}


def resolution(row: Row[Any]) -> Resolution:
    user = None if row.id is None else {"id": row.id, "email": row.email, "phone": row.phone}
    return Resolution(settings=OrgSettings.of(row.settings), user=user)


async def resolve(conn: AsyncConnection, org_id: str, ref: str, source: str | None) -> Resolution:
    """Which platform user an action's ``userId`` names, with the org's settings.

    A phone number given as ``userId`` must be in international format (``+44…``).
    """
    row = (await conn.execute(_RESOLVE, resolve_params(org_id, ref, source))).one()
    return resolution(row)


async def enroll(
    conn: AsyncConnection, org_id: str, ref: str, source: str | None
) -> dict[str, Any]:
    """Create the user an action names (mapped under its source); concurrent first actions
    create it once."""
    await conn.execute(insert(User).values(org_id=org_id, id=ref).on_conflict_do_nothing())
    if source:
        await conn.execute(
            insert(UserIdentity)
            .values(org_id=org_id, source=source, external_id=ref, user_id=ref)
            .on_conflict_do_nothing()
        )
    return {"id": ref, "email": None, "phone": None}


async def clash(conn: AsyncConnection, org_id: str, **where: str | None) -> str | None:
    """The user already holding one of these values (``id``, ``email``, ``phone``)."""
    conditions = [getattr(User, k) == v for k, v in where.items() if v is not None]
    if not conditions:
        return None
    return await conn.scalar(select(User.id).where(User.org_id == org_id, or_(*conditions)))


async def insert_user(
    conn: AsyncConnection, org_id: str, user_id: str, email: str | None, phone: str | None
) -> str | None:
    """Create the user; on a clash nothing is written and the holder's ID is returned."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(User).values(org_id=org_id, id=user_id, email=email, phone=phone)
            )
    except IntegrityError:
        return await clash(conn, org_id, id=user_id, email=email, phone=phone) or user_id
    return None


async def update_contact(
    conn: AsyncConnection, org_id: str, user_id: str, changes: dict[str, str | None]
) -> str | None:
    """Set email/phone; on a clash nothing is written and the holder's ID is returned."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                update(User).where(User.org_id == org_id, User.id == user_id).values(**changes)
            )
    except IntegrityError:
        return await clash(conn, org_id, **changes) or user_id
    return None


async def add_identity(
    conn: AsyncConnection, org_id: str, user_id: str, source: str, external_id: str
) -> str:
    """Map ``(source, external_id)`` to the user unless mapped already; returns its owner."""
    owner = await conn.scalar(
        insert(UserIdentity)
        .values(org_id=org_id, source=source, external_id=external_id, user_id=user_id)
        .on_conflict_do_update(
            index_elements=[UserIdentity.org_id, UserIdentity.source, UserIdentity.external_id],
            set_={"user_id": UserIdentity.user_id},  # no-op: returns the current owner
        )
        .returning(UserIdentity.user_id)
    )
    return str(owner)


async def remove_identity(
    conn: AsyncConnection, org_id: str, user_id: str, source: str, external_id: str
) -> bool:
    removed = await conn.scalar(
        delete(UserIdentity)
        .where(
            UserIdentity.org_id == org_id,
            UserIdentity.user_id == user_id,
            UserIdentity.source == source,
            UserIdentity.external_id == external_id,
        )
        .returning(UserIdentity.user_id)
    )
    return removed is not None


async def get(conn: AsyncConnection, org_id: str, user_id: str) -> UserView | None:
    """A live user with identities, every balance, products and codes."""
    user = (
        await conn.execute(select(User).where(User.org_id == org_id, User.id == user_id, *LIVE))
    ).first()
    if user is None:
        return None
    mine = (LedgerEntry.org_id == org_id, LedgerEntry.user_id == user_id)
    identities = await conn.execute(
        select(UserIdentity.source, UserIdentity.external_id)
        .where(UserIdentity.org_id == org_id, UserIdentity.user_id == user_id)
        .order_by(UserIdentity.source, UserIdentity.external_id)
    )
    balances = await conn.execute(
        select(Balance.currency, Balance.balance)
        .where(Balance.org_id == org_id, Balance.user_id == user_id)
        .order_by(Balance.currency)
    )
    # Reversal rows take products back (negative amounts) and revoke codes (linked rows).
    products = await conn.execute(
        select(LedgerEntry.product_id, func.sum(LedgerEntry.amount).label("quantity"))
        .where(*mine, LedgerEntry.type == "product")
        .group_by(LedgerEntry.product_id)
        .having(func.sum(LedgerEntry.amount) > 0)
        .order_by(LedgerEntry.product_id)
    )
    reversal = aliased(LedgerEntry)
    codes = await conn.scalars(
        select(LedgerEntry.code)
        .where(
            *mine,
            LedgerEntry.type == "code",
            LedgerEntry.reverses_id.is_(None),
            ~exists().where(reversal.reverses_id == LedgerEntry.id),
        )
        .order_by(LedgerEntry.id)
    )
    return UserView(
        id=user.id,
        email=user.email,
        phone=user.phone,
        created_at=user.created_at,
        external_ids=[(i.source, i.external_id) for i in identities],
        balances={b.currency: b.balance for b in balances},
        products=[(p.product_id, int(p.quantity)) for p in products],
        codes=[str(c) for c in codes],
    )


async def hold(conn: AsyncConnection, org_id: str, user_id: str) -> str | None:
    """Who holds ``user_id``'s grants and limits now (a user merged since planning hands them to
    the survivor), or None once erased.

    The share lock makes a concurrent merge or erasure wait for this transaction (or vice versa).
    """
    holder = await conn.scalar(
        select(func.coalesce(User.merged_into, User.id))
        .where(User.org_id == org_id, User.id == user_id, User.deleted_at.is_(None))
        .with_for_update(read=True)
    )
    if holder is not None and holder != user_id:  # an alias: hold the survivor still too
        holder = await conn.scalar(
            select(User.id)
            .where(User.org_id == org_id, User.id == holder, User.deleted_at.is_(None))
            .with_for_update(read=True)
        )
    return None if holder is None else str(holder)


async def merged_into(conn: AsyncConnection, org_id: str, user_id: str) -> str | None:
    return await conn.scalar(
        select(User.merged_into).where(User.org_id == org_id, User.id == user_id)
    )


async def list_page(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> list[UserRecord]:
    return records(UserRecord, await keyset_page(conn, User, User.id, org_id, after, limit, *LIVE))


async def find(conn: AsyncConnection, org_id: str, **where: str) -> UserRecord | None:
    """Look-up by email or phone, or by (source, externalId)."""
    query = select(User).where(User.org_id == org_id, *LIVE)
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
    row = (await conn.execute(query)).first()
    return None if row is None else record(UserRecord, row)


async def lock_live(
    conn: AsyncConnection, org_id: str, ids: list[str]
) -> tuple[dict[str, UserRecord], list[str]]:
    """Lock users about to change hands, and their aliases: (live users by ID, alias IDs).

    Aliases first: grants and plans hold an alias before its survivor (``hold``), then the
    event, so taking user rows in that order avoids lock cycles; IDs in sorted order keep
    merges from deadlocking each other. A merge committing in between can add an alias, locked
    last; a rare deadlock there is retried (503 for the API, a new attempt for an activity).
    """
    aliases = select(User.id).where(User.org_id == org_id, User.merged_into.in_(ids))
    await conn.execute(aliases.order_by(User.id).with_for_update())
    rows = await conn.execute(
        select(User)
        .where(User.org_id == org_id, User.id.in_(ids), *LIVE)
        .order_by(User.id)
        .with_for_update()
    )
    found = list(await conn.scalars(aliases.order_by(User.id).with_for_update()))
    return {r.id: record(UserRecord, r) for r in rows}, found
