"""Users, their external identities and balances; merging and erasure.

A merged user remains as an alias row (``merged_into``) so later actions naming it reach the
survivor; an erased user's ledger, balances and codes move to an anonymous tombstone so every
total stays exact while nothing identifies the person.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.errors import Conflict, NotFound
from src.domain.identity import lookup_keys
from src.domain.settings import OrgSettings
from src.store import limits
from src.store.pages import keyset_page
from src.store.tables import Balance, Code, LedgerEntry, User, UserIdentity

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


async def _clash(conn: AsyncConnection, org_id: str, **where: str | None) -> str | None:
    conditions = [getattr(User, k) == v for k, v in where.items() if v is not None]
    if not conditions:
        return None
    return await conn.scalar(select(User.id).where(User.org_id == org_id, or_(*conditions)))


async def create(
    conn: AsyncConnection,
    org_id: str,
    user_id: str,
    email: str | None,
    phone: str | None,
    external_ids: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> None:
    """409 naming the user that already has this ID, email, phone or external ID."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(User).values(org_id=org_id, id=user_id, email=email, phone=phone)
            )
    except IntegrityError as exc:
        clash = await _clash(conn, org_id, id=user_id, email=email, phone=phone)
        raise Conflict(
            f"user '{clash}' already has this id, email or phone", {"userId": clash}
        ) from exc
    for source, external_id in external_ids:
        await add_identity(conn, org_id, user_id, source, external_id)


async def update_contact(
    conn: AsyncConnection, org_id: str, user_id: str, changes: dict[str, str | None]
) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(
                update(User).where(User.org_id == org_id, User.id == user_id).values(**changes)
            )
    except IntegrityError as exc:
        clash = await _clash(conn, org_id, **changes)
        raise Conflict(
            f"user '{clash}' already has this email or phone", {"userId": clash}
        ) from exc


async def add_identity(
    conn: AsyncConnection, org_id: str, user_id: str, source: str, external_id: str
) -> None:
    owner = await conn.scalar(
        insert(UserIdentity)
        .values(org_id=org_id, source=source, external_id=external_id, user_id=user_id)
        .on_conflict_do_update(
            index_elements=[UserIdentity.org_id, UserIdentity.source, UserIdentity.external_id],
            set_={"user_id": UserIdentity.user_id},  # no-op: returns the current owner
        )
        .returning(UserIdentity.user_id)
    )
    if owner != user_id:
        raise Conflict(
            f"external ID '{external_id}' of source '{source}' belongs to user '{owner}'",
            {"userId": owner},
        )


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


async def get(conn: AsyncConnection, org_id: str, user_id: str) -> dict[str, Any] | None:
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
    products = await conn.execute(
        select(LedgerEntry.product_id, func.count().label("quantity"))
        .where(*mine, LedgerEntry.type == "product")
        .group_by(LedgerEntry.product_id)
        .order_by(LedgerEntry.product_id)
    )
    codes = await conn.scalars(
        select(LedgerEntry.code).where(*mine, LedgerEntry.type == "code").order_by(LedgerEntry.id)
    )
    return {
        **public(user),
        "externalIds": [{"source": i.source, "externalId": i.external_id} for i in identities],
        "balances": {b.currency: b.balance for b in balances},
        "products": [{"productId": p.product_id, "quantity": p.quantity} for p in products],
        "codes": list(codes),
    }


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
    return await keyset_page(conn, User, User.id, org_id, after, limit, *LIVE)


async def find(conn: AsyncConnection, org_id: str, **where: str) -> Row[Any] | None:
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
    return (await conn.execute(query)).first()


async def _lock_live(
    conn: AsyncConnection, org_id: str, ids: list[str]
) -> tuple[dict[str, Row[Any]], list[str]]:
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
    return {r.id: r for r in rows}, found


async def _move_holdings(conn: AsyncConnection, org_id: str, source: str, target: str) -> int:
    """Ledger history, balances, codes and limit counters of ``source`` become ``target``'s;
    returns ledger rows moved."""
    await conn.execute(
        text(
            """
            INSERT INTO balances (org_id, user_id, currency, balance)
            SELECT org_id, :target, currency, balance FROM balances
            WHERE org_id = :org AND user_id = :source
            ON CONFLICT (org_id, user_id, currency)
            DO UPDATE SET balance = balances.balance + EXCLUDED.balance, updated_at = now()
            """
        ),
        {"org": org_id, "source": source, "target": target},
    )
    await conn.execute(delete(Balance).where(Balance.org_id == org_id, Balance.user_id == source))
    moved = await conn.execute(
        update(LedgerEntry)
        .where(LedgerEntry.org_id == org_id, LedgerEntry.user_id == source)
        .values(user_id=target)
    )
    await conn.execute(
        update(Code).where(Code.org_id == org_id, Code.user_id == source).values(user_id=target)
    )
    await limits.move_user(conn, org_id, source, target)
    return int(moved.rowcount)


async def merge(conn: AsyncConnection, org_id: str, survivor: str, merged: str) -> int:
    """Move ``merged`` into ``survivor`` in this transaction; returns ledger rows moved.

    The merge is itself a ledger row (amount 0, so sum(ledger) = balance still holds).
    """
    if survivor == merged:
        raise Conflict("a user cannot be merged into itself")
    locked, _ = await _lock_live(conn, org_id, [survivor, merged])
    for user_id in (survivor, merged):
        if user_id not in locked:
            raise NotFound(f"user '{user_id}' not found")
    await conn.execute(
        update(UserIdentity)
        .where(UserIdentity.org_id == org_id, UserIdentity.user_id == merged)
        .values(user_id=survivor)
    )
    await conn.execute(
        update(User)
        .where(User.org_id == org_id, User.merged_into == merged)
        .values(merged_into=survivor)
    )
    moved = await _move_holdings(conn, org_id, merged, survivor)
    old, new = locked[merged], locked[survivor]
    contact = {k: getattr(old, k) for k in ("email", "phone") if getattr(new, k) is None}
    await conn.execute(
        update(User)
        .where(User.org_id == org_id, User.id == merged)
        .values(merged_into=survivor, email=None, phone=None)
    )
    if any(contact.values()):
        await conn.execute(
            update(User).where(User.org_id == org_id, User.id == survivor).values(**contact)
        )
    await conn.execute(
        insert(LedgerEntry).values(
            org_id=org_id,
            user_id=survivor,
            type="merge",
            amount=0,
            reason=f"merged user {merged} ({moved} ledger entries)",
            idempotency_key=f"merge:{uuid.uuid4()}",  # one transaction: nothing to retry
        )
    )
    return moved


async def erase(conn: AsyncConnection, org_id: str, user_id: str) -> str:
    """Erase personal data; holdings move to an anonymous tombstone. Returns its ID."""
    locked, aliases = await _lock_live(conn, org_id, [user_id])
    if user_id not in locked:
        raise NotFound(f"user '{user_id}' not found")
    names = [user_id, *aliases]
    anonymous = f"anon_{secrets.token_hex(8)}"
    await conn.execute(insert(User).values(org_id=org_id, id=anonymous, deleted_at=func.now()))
    await _move_holdings(conn, org_id, user_id, anonymous)
    await conn.execute(
        update(LedgerEntry)
        .where(
            LedgerEntry.org_id == org_id,
            LedgerEntry.user_id == anonymous,
            LedgerEntry.type == "merge",
        )
        .values(reason="merged user (erased)")
    )
    await conn.execute(_SCRUB_EVENTS, {"org": org_id, "names": names, "anonymous": anonymous})
    await conn.execute(
        delete(UserIdentity).where(UserIdentity.org_id == org_id, UserIdentity.user_id == user_id)
    )
    await conn.execute(delete(User).where(User.org_id == org_id, User.id.in_(names)))
    return anonymous


# Events the erased user's actions made: those resolved to it, and those never resolved that
# name it by its ID, email or phone (as written, give or take case, spaces and punctuation) or
# (source, external ID). Their plans name the tombstone.
_SCRUB_EVENTS = text(
    r"""
    UPDATE events e SET user_id = CAST(:anonymous AS text),
        resolved_user_id = CAST(:anonymous AS text),
        plan = CASE WHEN e.plan IS NULL THEN NULL
                    ELSE jsonb_set(e.plan, '{user_id}', to_jsonb(CAST(:anonymous AS text))) END,
        updated_at = now()
    WHERE e.org_id = :org AND (
        e.resolved_user_id = ANY(CAST(:names AS text[]))
        OR (e.resolved_user_id IS NULL AND (
            e.user_id = ANY(CAST(:names AS text[]))
            OR lower(regexp_replace(e.user_id, '^\s+|\s+$', '', 'g')) IN (
                SELECT u.email FROM users u
                WHERE u.org_id = :org AND u.id = ANY(CAST(:names AS text[])))
            OR (e.user_id ~ '^\s*\+[0-9][0-9 ().-]*$'
                AND regexp_replace(e.user_id, '[^0-9+]', '', 'g') IN (
                    SELECT u.phone FROM users u
                    WHERE u.org_id = :org AND u.id = ANY(CAST(:names AS text[]))))
            OR EXISTS (SELECT 1 FROM user_identities i
                       WHERE i.org_id = :org AND i.user_id = ANY(CAST(:names AS text[]))
                         AND i.external_id = e.user_id
                         AND i.source = e.metadata ->> 'source'))))
    """
)
