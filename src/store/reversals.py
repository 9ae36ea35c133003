"""Reversal requests and the ledger rows that take grants back."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, null, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.reversals import Grant, ReversalStatus, ReversalView
from src.store.records import record, records
from src.store.tables import Code, Event, Reversal

# The event's grants (positive rows of a type a reversal takes back) with what reversals
# took back from each so far.
_GRANTS = text(
    """
    SELECT g.id, g.user_id, g.type, g.amount, g.currency, g.product_id, g.code, g.campaign_id,
           g.campaign_version, g.effect_index,
           coalesce((SELECT -sum(r.amount) FROM ledger r WHERE r.reverses_id = g.id), 0)
               AS taken_back
    FROM ledger g
    WHERE g.org_id = :org AND g.event_id = :event AND g.reverses_id IS NULL
      AND g.amount > 0 AND g.type IN ('points', 'product', 'code')
    ORDER BY g.id
    """
)


@dataclass(frozen=True)
class EventState:
    """What a reversal checks of its event."""

    status: str
    data: dict[str, Any]
    resolved_user_id: str | None
    key_lineage: str | None  # the lineage of the key that posted it


@dataclass(frozen=True)
class Original:
    """An event a refund action may name."""

    id: str
    status: str
    resolved_user_id: str | None


@dataclass(frozen=True)
class Granted:
    """A ledger row the event granted, with what a reversal row taking it back copies."""

    id: int
    user_id: str
    type: str
    amount: Decimal
    currency: str | None
    product_id: str | None
    code: str | None
    campaign_id: str | None
    campaign_version: int | None
    effect_index: int | None
    taken_back: Decimal

    @property
    def held(self) -> str:
        """The currency, product ID or code the row grants: each type's own column."""
        held = {"points": self.currency, "product": self.product_id, "code": self.code}[self.type]
        if held is None:
            raise ValueError(f"ledger row {self.id} ({self.type}) names nothing it grants")
        return held


def _view(row: Any) -> ReversalView:
    return record(ReversalView, row)


async def lock_event(conn: AsyncConnection, org_id: str, event_id: str) -> EventState | None:
    """The event's status, data and resolved user, its row locked: reversals of one event and
    its replays take turns."""
    row = (
        await conn.execute(
            select(Event.status, Event.data, Event.resolved_user_id, Event.key_lineage)
            .where(Event.org_id == org_id, Event.id == event_id)
            .with_for_update()
        )
    ).first()
    return None if row is None else record(EventState, row)


async def resolved_user(conn: AsyncConnection, org_id: str, event_id: str) -> str | None:
    return await conn.scalar(
        select(Event.resolved_user_id).where(Event.org_id == org_id, Event.id == event_id)
    )


async def originals(
    conn: AsyncConnection, org_id: str, action: str, field: str, value: str
) -> list[Original]:
    """Up to two events of type ``action`` that ``field``
    (``data.originalEventId``, ``data.orderId`` or ``metadata.orderId``) names by ``value``:
    two index entries at most, never a sort of all the actions carrying one order ID."""
    query = select(Event.id, Event.status, Event.resolved_user_id).where(
        Event.org_id == org_id, Event.action == action
    )
    if field == "data.originalEventId":
        query = query.where(Event.id == value)
    elif field == "data.orderId":  # the key test matches the partial index's predicate
        query = query.where(Event.data.has_key("orderId"), Event.data["orderId"].astext == value)
    else:
        query = query.where(Event.meta.has_key("orderId"), Event.meta["orderId"].astext == value)
    return records(Original, await conn.execute(query.limit(2)))


async def of_event(conn: AsyncConnection, org_id: str, event_id: str) -> list[ReversalView]:
    rows = await conn.execute(
        select(Reversal)
        .where(Reversal.org_id == org_id, Reversal.event_id == event_id)
        .order_by(Reversal.created_at, Reversal.id)
    )
    return [_view(r) for r in rows]


async def create(
    conn: AsyncConnection,
    reversal_id: str,
    org_id: str,
    event_id: str,
    key: str,
    amount: Decimal | None,
    reason: str | None,
) -> None:
    await conn.execute(
        insert(Reversal).values(
            id=reversal_id,
            org_id=org_id,
            event_id=event_id,
            key=key,
            amount=amount,
            reason=reason,
            status=ReversalStatus.queued,
        )
    )


async def lock(conn: AsyncConnection, reversal_id: str) -> ReversalView | None:
    row = (
        await conn.execute(select(Reversal).where(Reversal.id == reversal_id).with_for_update())
    ).first()
    return None if row is None else _view(row)


async def refunded(conn: AsyncConnection, event_id: str, applied_only: bool) -> Decimal:
    """The amounts refunded by the event's partial reversals: applied, or also requested."""
    statuses = [ReversalStatus.completed]
    if not applied_only:
        statuses.append(ReversalStatus.queued)
    query = select(func.coalesce(func.sum(Reversal.amount), 0)).where(
        Reversal.event_id == event_id, Reversal.status.in_(statuses)
    )
    return Decimal(await conn.scalar(query) or 0)


async def grants(conn: AsyncConnection, org_id: str, event_id: str) -> list[tuple[Grant, Granted]]:
    rows = records(Granted, await conn.execute(_GRANTS, {"org": org_id, "event": event_id}))
    return [(Grant(r.id, r.type, r.amount, r.taken_back), r) for r in rows]


async def revoke_code(
    conn: AsyncConnection, org_id: str, pool_id: str | None, code: str, user_id: str
) -> None:
    """Revokes the user's code in the pool it came from (the same string may be a code of
    another pool too); a grant whose pool is unknown revokes it in every pool."""
    query = update(Code).where(Code.org_id == org_id, Code.code == code, Code.user_id == user_id)
    if pool_id is not None:
        query = query.where(Code.pool_id == pool_id)
    await conn.execute(query.values(revoked_at=func.now()))


async def finish(
    conn: AsyncConnection, reversal_id: str, status: str, result: dict[str, Any]
) -> None:
    await conn.execute(
        update(Reversal)
        .where(Reversal.id == reversal_id)
        .values(status=status, result=result, completed_at=func.now(), updated_at=func.now())
    )


async def requeue(conn: AsyncConnection, reversal_id: str) -> None:
    """A failed reversal (which wrote nothing) is to be applied again."""
    await conn.execute(
        update(Reversal)
        .where(Reversal.id == reversal_id, Reversal.status == "failed")
        .values(
            status=ReversalStatus.queued, result=null(), completed_at=None, updated_at=func.now()
        )
    )


async def queued_before(
    conn: AsyncConnection, older_than: float, limit: int
) -> list[tuple[str, str, str]]:
    """(reversal, org, event) of reversals still queued ``older_than`` seconds after their
    request: their start failed, or their run ended without applying them."""
    rows = await conn.execute(
        select(Reversal.id, Reversal.org_id, Reversal.event_id)
        .where(
            Reversal.status == "queued",
            Reversal.created_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than),
        )
        .order_by(Reversal.created_at)
        .limit(limit)
    )
    return [(r.id, str(r.org_id), r.event_id) for r in rows]


async def reversed_any(conn: AsyncConnection, event_id: str) -> bool:
    return bool(
        await conn.scalar(select(func.count()).where(Reversal.event_id == event_id).limit(1))
    )


LEDGER_REVERSAL = "reversal"  # the reason on every ledger row a reversal writes


def entry(
    org_id: str,
    event_id: str,
    reversal_id: str,
    grant_row: Granted,
    quantity: Decimal,
    balance: Decimal | None,
) -> dict[str, Any]:
    """The ledger row taking ``quantity`` of ``grant_row`` back, linked to it."""
    return {
        "org_id": org_id,
        "event_id": event_id,
        "user_id": grant_row.user_id,
        "type": grant_row.type,
        "amount": -quantity,
        "currency": grant_row.currency,
        "balance_after": balance,
        "product_id": grant_row.product_id,
        "code": grant_row.code,
        "campaign_id": grant_row.campaign_id,
        "campaign_version": grant_row.campaign_version,
        "effect_index": grant_row.effect_index,
        "reason": LEDGER_REVERSAL,
        "idempotency_key": f"{reversal_id}:{grant_row.id}",
        "reverses_id": grant_row.id,
        "reversal_id": reversal_id,
    }
