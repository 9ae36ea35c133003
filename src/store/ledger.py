"""The ledger and what a grant changes: balances, stock, codes, and each effect's outcome.
Every grant is one row with a UNIQUE idempotency key (the rules: ``services.grants``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import and_, exists, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.effects import EffectRequest, EffectResult
from src.domain.errors import present
from src.domain.events import Settled
from src.store.literals import FAILED, PROCESSED
from src.store.tables import Balance, Code, CodePool, LedgerEntry, Product
from src.store.tables import EffectResult as EffectRow

LEDGER_TYPES = {"add_points": "points", "award_product": "product", "allocate_code": "code"}


async def add_points(
    conn: AsyncConnection, org_id: str, user_id: str, currency: str, amount: Decimal
) -> Decimal:
    """Add to the user's balance in ``currency``; returns the balance after."""
    balance = await conn.scalar(
        insert(Balance)
        .values(org_id=org_id, user_id=user_id, currency=currency, balance=amount)
        .on_conflict_do_update(
            index_elements=[Balance.org_id, Balance.user_id, Balance.currency],
            set_={
                "balance": Balance.balance + literal_column("excluded.balance"),
                "updated_at": func.now(),
            },
        )
        .returning(Balance.balance)
    )
    return Decimal(present(balance, "an upserted balance"))  # an upsert returns its row


async def take_stock(
    conn: AsyncConnection, org_id: str, product_id: str
) -> Literal["taken", "unknown", "out"]:
    """Decrement limited stock atomically; unlimited products (stock NULL) take no row lock."""
    where = and_(Product.org_id == org_id, Product.id == product_id)
    taken = await conn.scalar(
        update(Product)
        .where(where, Product.stock > 0)
        .values(stock=Product.stock - 1)
        .returning(Product.id)
    )
    if taken is not None:
        return "taken"
    found = (await conn.execute(select(Product.stock).where(where))).first()
    if found is None:
        return "unknown"
    return "out" if found.stock is not None else "taken"


async def take_code(conn: AsyncConnection, org_id: str, pool_id: str, user_id: str) -> str | None:
    """Claim the lowest free code: an index probe with SKIP LOCKED, so allocators never queue.
    The pool's expiry is checked in the same statement (``why_no_code`` says why on None)."""
    pool = (CodePool.org_id == org_id) & (CodePool.id == pool_id)
    live = (CodePool.expires_at.is_(None)) | (CodePool.expires_at > func.now())
    free = (
        select(Code.id)
        .where(
            Code.org_id == org_id,
            Code.pool_id == pool_id,
            Code.allocated_at.is_(None),
            exists().where(pool, live),
        )
        .order_by(Code.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    code = await conn.scalar(
        update(Code)
        .where(Code.id == free)
        .values(allocated_at=func.now(), user_id=user_id)
        .returning(Code.code)
    )
    return None if code is None else str(code)


# The pool reached its threshold and has not said so since its last import: say it, once. The
# probe reads at most ``threshold`` + 1 free codes (an index range), never the whole pool.
_LOW_STOCK = text(
    """
    UPDATE code_pools p SET low_stock_notified_at = now()
    WHERE p.org_id = :org AND p.id = :pool AND p.low_stock_threshold IS NOT NULL
      AND p.low_stock_notified_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM codes c
                      WHERE c.org_id = p.org_id AND c.pool_id = p.id AND c.allocated_at IS NULL
                      ORDER BY c.id OFFSET p.low_stock_threshold LIMIT 1)
    RETURNING p.low_stock_threshold
    """
)


async def low_stock(conn: AsyncConnection, org_id: str, pool_id: str) -> int | None:
    """After an allocation: the pool's threshold if this one took it to the threshold or
    below for the first time since codes were last imported, else None."""
    found = await conn.scalar(_LOW_STOCK, {"org": org_id, "pool": pool_id})
    return None if found is None else int(found)


async def why_no_code(
    conn: AsyncConnection, org_id: str, pool_id: str
) -> Literal["unknown", "expired", "contended", "exhausted"]:
    pool = (CodePool.org_id == org_id) & (CodePool.id == pool_id)
    live = (CodePool.expires_at.is_(None)) | (CodePool.expires_at > func.now())
    found = (await conn.execute(select(live.label("live")).where(pool))).first()
    if found is None:
        return "unknown"
    if not found.live:
        return "expired"
    still_free = await conn.scalar(
        select(Code.id)
        .where(Code.org_id == org_id, Code.pool_id == pool_id, Code.allocated_at.is_(None))
        .limit(1)
    )
    # Free codes all locked: allocations in flight that may yet roll back.
    return "contended" if still_free is not None else "exhausted"


async def insert_entry(conn: AsyncConnection, values: dict[str, Any]) -> int | None:
    """The ledger row; None when its idempotency key exists (granted before)."""
    inserted = await conn.scalar(
        insert(LedgerEntry)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[LedgerEntry.idempotency_key])
        .returning(LedgerEntry.id)
    )
    return None if inserted is None else int(inserted)


async def earlier_grant(conn: AsyncConnection, key: str) -> EffectResult | None:
    row = (
        await conn.execute(
            select(LedgerEntry.id, LedgerEntry.balance_after, LedgerEntry.code).where(
                LedgerEntry.idempotency_key == key
            )
        )
    ).first()
    if row is None:
        return None
    return EffectResult.granted(key, row.id, row.balance_after, row.code)


async def record(
    conn: AsyncConnection, request: EffectRequest, result: EffectResult
) -> Settled | None:
    """Store the effect's outcome and, once every planned effect has one, the event's status;
    returns that status when this call is the one that changed it."""
    effect = request.effect
    txn = result.transaction
    await conn.execute(
        insert(EffectRow)
        .values(
            key=effect.key,
            org_id=request.org_id,
            event_id=request.event_id,
            campaign_id=effect.campaign_id,
            campaign_version=effect.campaign_version,
            effect_index=effect.effect_index,
            type=effect.type,
            status=result.status,
            reason=result.reason,
            transaction_id=txn,
        )
        .on_conflict_do_update(
            index_elements=[EffectRow.key],
            set_={
                "status": result.status,
                "reason": result.reason,
                "transaction_id": txn,
                "updated_at": func.now(),
            },
        )
    )
    settled = (await conn.execute(_SETTLE_EVENT, {"event_id": request.event_id})).first()
    return None if settled is None else Settled(settled.status, settled.reason)


# A retry finding the event settled as it would settle it changes nothing and reports nothing.
_SETTLE_EVENT = text(
    f"""
    UPDATE events e
    SET status = agg.status, reason = agg.failures, updated_at = now()
    FROM (SELECT n, failures,
                 CASE WHEN failures IS NULL THEN {PROCESSED} ELSE {FAILED} END AS status
          FROM (SELECT count(*) AS n,
                       string_agg(DISTINCT reason, ',') FILTER (WHERE status = {FAILED})
                           AS failures
                FROM effect_results WHERE event_id = :event_id) counted) agg
    WHERE e.id = :event_id AND agg.n >= e.planned_effects
      AND (e.status, e.reason) IS DISTINCT FROM (agg.status, agg.failures)
    RETURNING e.status, e.reason
    """
)
