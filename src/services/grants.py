"""Granting one planned effect exactly once. The ledger row has a UNIQUE idempotency key and
is written in the same database transaction as the balance, stock or code it changes: a retry,
reset or replay of the same effect hits the key, rolls back and returns the first grant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.domain import errors
from src.domain.effects import EffectRequest, EffectResult, firing_key
from src.domain.events import Settled
from src.services import outcomes
from src.store import ledger, limits, users, webhooks


class EffectFailed(Exception):
    """A permanent business failure (empty pool, out of stock): retrying cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PoolContended(Exception):
    """All free codes are held by other allocations that may yet roll back: retry."""


@dataclass(frozen=True)
class Applied:
    """An effect's outcome, and the event's final status when recording it settled the event."""

    result: EffectResult
    settled: Settled | None


class _AlreadyGranted(Exception):
    """The ledger key exists: this effect was granted by an earlier attempt or run."""


async def apply(engine: AsyncEngine, request: EffectRequest) -> Applied:
    """Grant the effect and record its outcome on the event; a permanent failure is recorded
    (``fail``) and returned with status ``failed``."""
    try:
        async with engine.begin() as conn:
            result = await _grant(conn, request)
            await webhooks.notify(conn, request.org_id, "reward.granted", _granted(request, result))
            return await _recorded(conn, request, result)
    except _AlreadyGranted:
        pass
    except DataError:  # e.g. an amount beyond the ledger's precision: no retry helps
        return await fail(engine, request, errors.INVALID_VALUE)
    except EffectFailed as failure:
        return await fail(engine, request, failure.reason)
    async with engine.begin() as conn:
        earlier = await ledger.earlier_grant(conn, request.effect.key)
        return await _recorded(conn, request, errors.present(earlier, "a conflicting key's row"))


async def fail(engine: AsyncEngine, request: EffectRequest, reason: str) -> Applied:
    """Record the effect as failed for good, unless an earlier attempt granted it (then that
    grant is the outcome). Once every effect of a limited firing has failed, the firing's
    reservation is released in the same transaction."""
    effect = request.effect
    async with engine.begin() as conn:
        # Users before events, as grants and plans take them (merges move reservations).
        await users.hold(conn, request.org_id, request.user_id)
        outcome = await ledger.earlier_grant(conn, effect.key) or EffectResult(
            key=effect.key, status="failed", reason=reason
        )
        applied = await _recorded(conn, request, outcome)
        if outcome.status == "failed" and effect.reserved:
            await limits.release_if_failed(
                conn, request.event_id, effect.campaign_id, effect.campaign_version
            )
        return applied


async def _recorded(conn: AsyncConnection, request: EffectRequest, result: EffectResult) -> Applied:
    """The outcome recorded; an event it settles failed is announced (``event.failed``)."""
    settled = await ledger.record(conn, request, result)
    if settled is not None and settled.status == "failed":
        await outcomes.announce_failed(conn, request.org_id, request.event_id, settled.reason)
    return Applied(result, settled)


def _granted(request: EffectRequest, result: EffectResult) -> dict[str, Any]:
    """``reward.granted``'s data: what the user got, by which event and campaign."""
    effect = request.effect
    return {
        "eventId": request.event_id,
        "userId": request.user_id,
        "campaignId": effect.campaign_id,
        "type": effect.type,
        "amount": effect.amount,
        "currency": effect.currency,
        "productId": effect.product_id,
        "code": result.code,
        "balanceAfter": result.balance_after,
        "transactionId": result.transaction_id,
    }


_NO_PRODUCT = {"unknown": errors.UNKNOWN_PRODUCT, "out": errors.OUT_OF_STOCK}
_NO_CODE = {
    "unknown": errors.UNKNOWN_POOL,
    "expired": errors.POOL_EXPIRED,
    "exhausted": errors.POOL_EXHAUSTED,
}


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
    taken = await _TAKE[effect.type](conn, request, user_id)
    inserted = await ledger.insert_entry(
        conn,
        {
            "org_id": request.org_id,
            "user_id": user_id,
            "type": ledger.LEDGER_TYPES[effect.type],
            "amount": taken.amount,
            "currency": taken.currency,
            "balance_after": taken.balance_after,
            "product_id": taken.product_id,
            "code": taken.code,
            "campaign_id": effect.campaign_id,
            "campaign_version": effect.campaign_version,
            "event_id": request.event_id,
            "effect_index": effect.effect_index,
            "reason": effect.reason,
            "idempotency_key": effect.key,
        },
    )
    if inserted is None:
        raise _AlreadyGranted
    return EffectResult.granted(effect.key, inserted, taken.balance_after, taken.code)


@dataclass(frozen=True)
class _Taken:
    """What one effect took from the org's stores, as its ledger row records it."""

    amount: Decimal = Decimal(1)
    currency: str | None = None
    balance_after: Decimal | None = None
    product_id: str | None = None
    code: str | None = None


async def _points(conn: AsyncConnection, request: EffectRequest, user_id: str) -> _Taken:
    amount = errors.present(request.effect.amount, "an add_points effect's amount")
    currency = errors.present(request.effect.currency, "an add_points effect's currency")
    after = await ledger.add_points(conn, request.org_id, user_id, currency, amount)
    return _Taken(amount=amount, currency=currency, balance_after=after)


async def _product(conn: AsyncConnection, request: EffectRequest, _user_id: str) -> _Taken:
    product_id = str(request.effect.product_id)
    taken = await ledger.take_stock(conn, request.org_id, product_id)
    if taken != "taken":
        raise EffectFailed(_NO_PRODUCT[taken])
    return _Taken(product_id=product_id)


async def _code(conn: AsyncConnection, request: EffectRequest, user_id: str) -> _Taken:
    pool = str(request.effect.pool_id)
    code = await ledger.take_code(conn, request.org_id, pool, user_id)
    if code is None:
        why = await ledger.why_no_code(conn, request.org_id, pool)
        if why == "contended":
            raise PoolContended(pool)
        raise EffectFailed(_NO_CODE[why])
    threshold = await ledger.low_stock(conn, request.org_id, pool)
    if threshold is not None:  # announced with the allocation that crossed it, or not at all
        low = {"poolId": pool, "threshold": threshold}
        await webhooks.notify(conn, request.org_id, "pool.low_stock", low)
    return _Taken(code=code)


# One function per effect type: what it takes, in the grant's transaction; a new effect type
# (lots, redemptions) adds its own.
_TAKE: dict[str, Callable[[AsyncConnection, EffectRequest, str], Awaitable[_Taken]]] = {
    "add_points": _points,
    "award_product": _product,
    "allocate_code": _code,
}
