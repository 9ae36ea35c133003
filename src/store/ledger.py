"""The ledger: every grant is one row with a UNIQUE idempotency key, written in the same
database transaction as the balance, stock or code it changes. A retry, reset or replay of the
same effect hits the key, rolls back and returns the first grant instead of granting again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.domain import errors
from src.domain.effects import EffectRequest, EffectResult, firing_key
from src.store import limits, users
from src.store.tables import Balance, Code, CodePool, LedgerEntry, Product
from src.store.tables import EffectResult as EffectRow

LEDGER_TYPES = {"add_points": "points", "award_product": "product", "allocate_code": "code"}


class EffectFailed(Exception):
    """A permanent business failure (empty pool, out of stock): retrying cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PoolContended(Exception):
    """All free codes are held by other allocations that may yet roll back: retry."""


class _AlreadyGranted(Exception):
    """The ledger key exists: this effect was granted by an earlier attempt or run."""


async def apply_effect(engine: AsyncEngine, request: EffectRequest) -> EffectResult:
    """Grant one planned effect exactly once and record its outcome on the event; a permanent
    failure is recorded (``fail``) and returned with status ``failed``."""
    try:
        async with engine.begin() as conn:
            result = await _grant(conn, request)
            await _record(conn, request, result)
            return result
    except _AlreadyGranted:
        pass
    except DataError:  # e.g. an amount beyond the ledger's precision: no retry helps
        return await fail(engine, request, errors.INVALID_VALUE)
    except EffectFailed as failure:
        return await fail(engine, request, failure.reason)
    async with engine.begin() as conn:
        earlier = await _earlier_grant(conn, request.effect.key)
        assert earlier is not None, "ledger key conflicted but no row is visible"
        await _record(conn, request, earlier)
        return earlier


async def fail(engine: AsyncEngine, request: EffectRequest, reason: str) -> EffectResult:
    """Record the effect as failed for good, unless an earlier attempt granted it (then that
    grant is the outcome). Once every effect of a limited firing has failed, the firing's
    reservation is released in the same transaction."""
    effect = request.effect
    async with engine.begin() as conn:
        # Users before events, as grants and plans take them (merges move reservations).
        await users.hold(conn, request.org_id, request.user_id)
        outcome = await _earlier_grant(conn, effect.key) or EffectResult(
            key=effect.key, status="failed", reason=reason
        )
        await _record(conn, request, outcome)
        if outcome.status == "failed" and effect.reserved:
            await limits.release_if_failed(
                conn, request.event_id, effect.campaign_id, effect.campaign_version
            )
        return outcome


async def _grant(conn: AsyncConnection, request: EffectRequest) -> EffectResult:
    effect = request.effect
    user_id = await users.hold(conn, request.org_id, request.user_id)
    if user_id is None:
        raise EffectFailed(errors.UNKNOWN_USER)
    if effect.reserved:  # a replay of a firing released after its effects failed reserves again
        key = firing_key(request.event_id, effect.campaign_id, effect.campaign_version)
        refused = await limits.hold_for_grant(conn, key)
        if refused is not None:
            raise EffectFailed(f"{errors.LIMIT_REACHED}:{refused}")
    row: dict[str, Any] = {"amount": 1}
    if effect.type == "add_points":
        assert effect.amount is not None and effect.currency is not None
        balance = await conn.scalar(
            insert(Balance)
            .values(
                org_id=request.org_id,
                user_id=user_id,
                currency=effect.currency,
                balance=effect.amount,
            )
            .on_conflict_do_update(
                index_elements=[Balance.org_id, Balance.user_id, Balance.currency],
                set_={
                    "balance": Balance.balance + literal_column("excluded.balance"),
                    "updated_at": func.now(),
                },
            )
            .returning(Balance.balance)
        )
        row = {"amount": effect.amount, "currency": effect.currency, "balance_after": balance}
    elif effect.type == "award_product":
        await _take_stock(conn, request.org_id, str(effect.product_id))
        row["product_id"] = effect.product_id
    else:
        row["code"] = await _take_code(conn, request.org_id, str(effect.pool_id), user_id)
    inserted = (
        await conn.execute(
            insert(LedgerEntry)
            .values(
                org_id=request.org_id,
                user_id=user_id,
                type=LEDGER_TYPES[effect.type],
                campaign_id=effect.campaign_id,
                campaign_version=effect.campaign_version,
                event_id=request.event_id,
                effect_index=effect.effect_index,
                reason=effect.reason,
                idempotency_key=effect.key,
                **row,
            )
            .on_conflict_do_nothing(index_elements=[LedgerEntry.idempotency_key])
            .returning(LedgerEntry.id)
        )
    ).scalar()
    if inserted is None:
        raise _AlreadyGranted
    return EffectResult(
        key=effect.key,
        status="granted",
        transaction_id=f"txn_{inserted}",
        balance_after=row.get("balance_after"),
        code=row.get("code"),
    )


async def _take_stock(conn: AsyncConnection, org_id: str, product_id: str) -> None:
    """Decrement limited stock atomically; unlimited products (stock NULL) take no row lock."""
    where = and_(Product.org_id == org_id, Product.id == product_id)
    taken = await conn.scalar(
        update(Product)
        .where(where, Product.stock > 0)
        .values(stock=Product.stock - 1)
        .returning(Product.id)
    )
    if taken is not None:
        return
    found = (await conn.execute(select(Product.stock).where(where))).first()
    if found is None:
        raise EffectFailed(errors.UNKNOWN_PRODUCT)
    if found.stock is not None:
        raise EffectFailed(errors.OUT_OF_STOCK)


async def _take_code(conn: AsyncConnection, org_id: str, pool_id: str, user_id: str) -> str:
    """Claim the lowest free code: an index probe with SKIP LOCKED, so allocators never queue.

    The pool's expiry is checked in the same statement; the reason is looked up only on failure.
    """
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
    if code is not None:
        return str(code)
    found = (await conn.execute(select(live.label("live")).where(pool))).first()
    if found is None:
        raise EffectFailed(errors.UNKNOWN_POOL)
    if not found.live:
        raise EffectFailed(errors.POOL_EXPIRED)
    still_free = await conn.scalar(
        select(Code.id)
        .where(Code.org_id == org_id, Code.pool_id == pool_id, Code.allocated_at.is_(None))
        .limit(1)
    )
    if still_free is not None:  # every free code is locked by an allocation in flight
        raise PoolContended(pool_id)
    raise EffectFailed(errors.POOL_EXHAUSTED)


async def _earlier_grant(conn: AsyncConnection, key: str) -> EffectResult | None:
    row = (
        await conn.execute(
            select(LedgerEntry.id, LedgerEntry.balance_after, LedgerEntry.code).where(
                LedgerEntry.idempotency_key == key
            )
        )
    ).first()
    if row is None:
        return None
    return EffectResult(
        key=key,
        status="granted",
        transaction_id=f"txn_{row.id}",
        balance_after=row.balance_after,
        code=row.code,
    )


async def _record(conn: AsyncConnection, request: EffectRequest, result: EffectResult) -> None:
    """Store the effect's outcome and, once every planned effect has one, the event's status."""
    effect = request.effect
    txn = int(result.transaction_id[4:]) if result.transaction_id else None
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
    await conn.execute(_SETTLE_EVENT, {"event_id": request.event_id})


_SETTLE_EVENT = text(
    """
    UPDATE events e
    SET status = CASE WHEN agg.failures IS NULL THEN 'processed' ELSE 'failed' END,
        reason = agg.failures, updated_at = now()
    FROM (SELECT count(*) AS n,
                 string_agg(DISTINCT reason, ',') FILTER (WHERE status = 'failed') AS failures
          FROM effect_results WHERE event_id = :event_id) agg
    WHERE e.id = :event_id AND agg.n >= e.planned_effects
    """
)
