"""What a user holds changing hands: on a merge to the survivor, on an erasure to an anonymous
tombstone, so every total stays exact while nothing identifies the person."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.limits import PERIOD_SCOPE_PREFIX, user_scope
from src.store import limits
from src.store.tables import Balance, Code, LedgerEntry, User, UserIdentity

_ADD_BALANCES = text(
    """
    INSERT INTO balances (org_id, user_id, currency, balance)
    SELECT org_id, :target, currency, balance FROM balances
    WHERE org_id = :org AND user_id = :source
    ON CONFLICT (org_id, user_id, currency)
    DO UPDATE SET balance = balances.balance + EXCLUDED.balance, updated_at = now()
    """
)


async def move(conn: AsyncConnection, org_id: str, source: str, target: str) -> int:
    """Ledger history, balances, codes, limit counters and reservations of ``source`` become
    ``target``'s; returns the ledger rows moved. Callers hold both users locked."""
    await conn.execute(_ADD_BALANCES, {"org": org_id, "source": source, "target": target})
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


async def hand_over_identities(
    conn: AsyncConnection, org_id: str, merged: str, survivor: str
) -> None:
    """External IDs and aliases of ``merged`` name ``survivor`` from now on."""
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


async def become_alias(
    conn: AsyncConnection, org_id: str, merged: str, survivor: str, contact: dict[str, str]
) -> None:
    """``merged`` stays only as an alias of ``survivor``, which takes the contact it lacked."""
    await conn.execute(
        update(User)
        .where(User.org_id == org_id, User.id == merged)
        .values(merged_into=survivor, email=None, phone=None)
    )
    if contact:
        await conn.execute(
            update(User).where(User.org_id == org_id, User.id == survivor).values(**contact)
        )


async def record_merge(conn: AsyncConnection, org_id: str, survivor: str, reason: str) -> None:
    """The merge as a ledger row of amount 0 (so sum(ledger) = balance still holds)."""
    await conn.execute(
        insert(LedgerEntry).values(
            org_id=org_id,
            user_id=survivor,
            type="merge",
            amount=0,
            reason=reason,
            idempotency_key=f"merge:{uuid.uuid4()}",  # one transaction: nothing to retry
        )
    )


async def create_tombstone(conn: AsyncConnection, org_id: str, anonymous: str) -> None:
    await conn.execute(insert(User).values(org_id=org_id, id=anonymous, deleted_at=func.now()))


async def forget(
    conn: AsyncConnection, org_id: str, user_id: str, names: list[str], anonymous: str
) -> None:
    """The erased user's events (and their plans) and webhook notifications (pending or kept)
    name the tombstone, merge rows stop naming merged users, backtests forget it (their
    aggregates stay), and the user, its aliases and its external IDs are gone."""
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
    scrub = {"org": org_id, "names": names, "anonymous": anonymous}
    await conn.execute(_SCRUB_DELIVERIES, scrub)
    await conn.execute(_FORGET_BACKTEST_USERS, {"org": org_id, "names": names})
    await conn.execute(
        _FORGET_BACKTEST_COUNTERS,
        {
            "org": org_id,
            "names": names,
            "lifetimes": [user_scope(n) for n in names],
            "prefix": PERIOD_SCOPE_PREFIX,
        },
    )
    await conn.execute(
        delete(UserIdentity).where(UserIdentity.org_id == org_id, UserIdentity.user_id == user_id)
    )
    await conn.execute(delete(User).where(User.org_id == org_id, User.id.in_(names)))


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
# Notifications name a platform user in ``data.userId`` (reward.granted): rewritten to the
# tombstone, pending ones too (their next attempt sends the new body under the same
# webhook-id). Retention is left as it was (``updated_at`` untouched).
_SCRUB_DELIVERIES = text(
    """
    UPDATE webhook_deliveries
    SET body = CAST(jsonb_set(CAST(body AS jsonb), '{data,userId}',
                              to_jsonb(CAST(:anonymous AS text))) AS text)
    WHERE org_id = :org
      AND CAST(body AS jsonb) #>> '{data,userId}' = ANY(CAST(:names AS text[]))
    """
)
_FORGET_BACKTEST_USERS = text(
    """
    DELETE FROM backtest_users u USING backtests b
    WHERE b.id = u.backtest_id AND b.org_id = :org AND u.user_id = ANY(CAST(:names AS text[]))
    """
)
_FORGET_BACKTEST_COUNTERS = text(
    """
    DELETE FROM backtest_counters c USING backtests b
    WHERE b.id = c.backtest_id AND b.org_id = :org AND (
        c.scope = ANY(CAST(:lifetimes AS text[])) OR (
            c.scope ~ :prefix
            AND substr(c.scope, length(substring(c.scope FROM :prefix)) + 1)
                = ANY(CAST(:names AS text[]))))
    """
)
