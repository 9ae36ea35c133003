"""Users: create and edit them, map integrators' own IDs, look them up, merge two accounts and
erase one. Emails are stored lower-case, phones in E.164; a clash names the user holding the
identifier (the API shows that name only to keys that may read users)."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.domain.errors import Conflict, Invalid, NotFound, Refused
from src.domain.identity import normalize_phone
from src.domain.users import UserRecord, UserView
from src.store import holdings, orgs, users

Lookup = dict[str, str]  # one of {"email"}, {"phone"}, {"source", "external_id"}


def new_id() -> str:
    return f"usr_{secrets.token_hex(8)}"


async def phone_of(engine: AsyncEngine, org_id: str, raw: str | None) -> str | None:
    """E.164, using the org's ``phoneRegion`` for numbers without a country code."""
    if raw is None:
        return None
    async with engine.connect() as conn:
        region = (await orgs.get_settings(conn, org_id)).phone_region
    phone = normalize_phone(raw, region)
    if phone is None:
        hint = "" if region else "; use +<country code> or set phoneRegion in /v1/org/settings"
        raise Invalid.field("phone", f"not a valid phone number{hint}")
    return phone


def _taken(holder: str) -> Conflict:
    return Conflict(f"user '{holder}' already has this id, email or phone", {"userId": holder})


async def _add_identity(
    conn: AsyncConnection, org_id: str, user_id: str, source: str, external_id: str
) -> None:
    owner = await users.add_identity(conn, org_id, user_id, source, external_id)
    if owner != user_id:
        raise Conflict(
            f"external ID '{external_id}' of source '{source}' belongs to user '{owner}'",
            {"userId": owner},
        )


async def get(engine: AsyncEngine, org_id: str, user_id: str) -> UserView:
    """A live user; a merged one is a 404 saying which user it was merged into."""
    async with engine.connect() as conn:
        found = await users.get(conn, org_id, user_id)
        survivor = None if found else await users.merged_into(conn, org_id, user_id)
    if found is not None:
        return found
    if survivor:
        raise NotFound(
            f"user '{user_id}' was merged into '{survivor}'",
            {"mergedInto": survivor},
            code="merged",
        )
    raise NotFound(f"user '{user_id}' not found")


async def create(
    engine: AsyncEngine,
    org_id: str,
    user_id: str,
    email: str | None,
    phone: str | None,
    external_ids: list[tuple[str, str]],
) -> UserView:
    phone = await phone_of(engine, org_id, phone)
    async with engine.begin() as conn:
        holder = await users.insert_user(conn, org_id, user_id, email, phone)
        if holder is not None:
            raise _taken(holder)
        for source, external_id in external_ids:
            await _add_identity(conn, org_id, user_id, source, external_id)
    return await get(engine, org_id, user_id)


async def page(engine: AsyncEngine, org_id: str, after: str | None, limit: int) -> list[UserRecord]:
    async with engine.connect() as conn:
        return await users.list_page(conn, org_id, after, limit)


async def change_contact(
    engine: AsyncEngine, org_id: str, user_id: str, changes: dict[str, str | None]
) -> UserView:
    """Set or clear (``None``) email and phone."""
    if "phone" in changes:
        changes["phone"] = await phone_of(engine, org_id, changes["phone"])
    await get(engine, org_id, user_id)
    if changes:
        async with engine.begin() as conn:
            holder = await users.update_contact(conn, org_id, user_id, changes)
        if holder is not None:
            raise Conflict(f"user '{holder}' already has this email or phone", {"userId": holder})
    return await get(engine, org_id, user_id)


async def add_external_id(
    engine: AsyncEngine, org_id: str, user_id: str, source: str, external_id: str
) -> UserView:
    await get(engine, org_id, user_id)
    async with engine.begin() as conn:
        await _add_identity(conn, org_id, user_id, source, external_id)
    return await get(engine, org_id, user_id)


async def remove_external_id(
    engine: AsyncEngine, org_id: str, user_id: str, source: str, external_id: str
) -> None:
    async with engine.begin() as conn:
        if not await users.remove_identity(conn, org_id, user_id, source, external_id):
            raise NotFound(f"user '{user_id}' has no {source} ID '{external_id}'")


async def lookup(engine: AsyncEngine, org_id: str, where: Lookup) -> UserRecord:
    """The guide's identity mapping: by email or phone (where the org enabled it), or by an
    integrator's own ID under its source."""
    async with engine.connect() as conn:
        by = "email" if "email" in where else "phone" if "phone" in where else None
        if by is not None and not getattr((await orgs.get_settings(conn, org_id)).user_lookup, by):
            raise Refused(
                f"look-up by {by} is disabled for this organisation; enable it with "
                f'PATCH /v1/org/settings {{"userLookup": {{"{by}": true}}}}',
                code="lookup_disabled",
            )
        found = await users.find(conn, org_id, **where)
    if found is None:
        raise NotFound("no user matches")
    return found


async def merge(
    engine: AsyncEngine, org_id: str, survivor: str, merged: str
) -> tuple[UserView, int]:
    """Move ``merged``'s identities, ledger history, balances, codes, limit counters and
    reservations to ``survivor`` in one transaction; ``merged`` stays as an alias, so later
    actions naming it reach the survivor. Returns the survivor and the ledger rows moved."""
    if survivor == merged:
        raise Conflict("a user cannot be merged into itself")
    async with engine.begin() as conn:
        locked, _ = await users.lock_live(conn, org_id, [survivor, merged])
        for user_id in (survivor, merged):
            if user_id not in locked:
                raise NotFound(f"user '{user_id}' not found")
        await holdings.hand_over_identities(conn, org_id, merged, survivor)
        moved = await holdings.move(conn, org_id, merged, survivor)
        old, new = locked[merged], locked[survivor]
        contact = {k: getattr(old, k) for k in ("email", "phone") if getattr(new, k) is None}
        await holdings.become_alias(
            conn, org_id, merged, survivor, {k: v for k, v in contact.items() if v}
        )
        await holdings.record_merge(
            conn, org_id, survivor, f"merged user {merged} ({moved} ledger entries)"
        )
    return await get(engine, org_id, survivor), moved


async def erase(engine: AsyncEngine, org_id: str, user_id: str) -> str:
    """Erase personal data; holdings move to an anonymous tombstone (totals stay exact).
    Returns the tombstone's ID."""
    anonymous = f"anon_{secrets.token_hex(8)}"
    async with engine.begin() as conn:
        locked, aliases = await users.lock_live(conn, org_id, [user_id])
        if user_id not in locked:
            raise NotFound(f"user '{user_id}' not found")
        await holdings.create_tombstone(conn, org_id, anonymous)
        await holdings.move(conn, org_id, user_id, anonymous)
        await holdings.forget(conn, org_id, user_id, [user_id, *aliases], anonymous)
    return anonymous
