"""Webhook subscriptions and their deliveries (the notification outbox)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.store.tables import Webhook, WebhookDelivery

# One statement per notification, a no-op for an org without a subscriber to its type.
_NOTIFY = text(
    """
    INSERT INTO webhook_deliveries (id, org_id, webhook_id, type, body, status)
    SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), w.org_id, w.id,
           CAST(:type AS text), CAST(:body AS text), 'pending'
    FROM webhooks w WHERE w.org_id = CAST(:org AS uuid) AND CAST(:type AS text) = ANY(w.events)
    """
)


async def notify(conn: AsyncConnection, org_id: str, kind: str, data: dict[str, Any]) -> None:
    """Queue ``kind`` for each of the org's webhooks subscribed to it, in the caller's
    transaction (so it is sent if and only if what it announces commits). The body is fixed
    here, once: every attempt sends the same bytes."""
    body = json.dumps(
        {"type": kind, "timestamp": datetime.now(UTC).isoformat(), "data": data},
        separators=(",", ":"),
        default=str,
    )
    await conn.execute(_NOTIFY, {"org": org_id, "type": kind, "body": body})


async def create(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(Webhook).values(**values))


async def of_org(conn: AsyncConnection, org_id: str) -> list[Any]:
    rows = await conn.execute(
        select(Webhook).where(Webhook.org_id == org_id).order_by(Webhook.created_at)
    )
    return list(rows)


async def get(conn: AsyncConnection, org_id: str, webhook_id: str) -> Any:
    return (
        await conn.execute(
            select(Webhook).where(Webhook.org_id == org_id, Webhook.id == webhook_id)
        )
    ).first()


async def remove(conn: AsyncConnection, org_id: str, webhook_id: str) -> bool:
    gone = await conn.execute(
        delete(Webhook).where(Webhook.org_id == org_id, Webhook.id == webhook_id)
    )
    return bool(gone.rowcount)


async def set_secret(conn: AsyncConnection, org_id: str, webhook_id: str, secret: str) -> bool:
    changed = await conn.execute(
        update(Webhook)
        .where(Webhook.org_id == org_id, Webhook.id == webhook_id)
        .values(secret=secret)
    )
    return bool(changed.rowcount)


async def secrets(conn: AsyncConnection) -> list[Any]:
    """Every webhook's stored secret, by ID."""
    return list(await conn.execute(select(Webhook.id, Webhook.secret).order_by(Webhook.id)))


async def replace_secret(conn: AsyncConnection, webhook_id: str, old: str, new: str) -> int:
    """Swap the stored secret if it is still ``old`` (a rotation meanwhile wins)."""
    changed = await conn.execute(
        update(Webhook).where(Webhook.id == webhook_id, Webhook.secret == old).values(secret=new)
    )
    return int(changed.rowcount)


async def deliveries(conn: AsyncConnection, org_id: str, webhook_id: str, limit: int) -> list[Any]:
    rows = await conn.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.org_id == org_id, WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
    )
    return list(rows)


async def claim(conn: AsyncConnection, limit: int) -> list[Any]:
    """Deliveries no run has started for, oldest first, locked for this relay's pass."""
    rows = await conn.execute(
        select(WebhookDelivery.id, WebhookDelivery.org_id, WebhookDelivery.resends)
        .where(WebhookDelivery.started_at.is_(None))
        .order_by(WebhookDelivery.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def mark_started(conn: AsyncConnection, ids: list[str]) -> None:
    if ids:
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(started_at=func.now(), updated_at=func.now())
        )


async def target(conn: AsyncConnection, delivery_id: str) -> Any:
    """The delivery with its webhook's URL and secret; None once the webhook is deleted."""
    return (
        await conn.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.body,
                WebhookDelivery.status,
                WebhookDelivery.created_at,
                WebhookDelivery.webhook_id,
                Webhook.url,
                Webhook.secret,
            )
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id == delivery_id)
        )
    ).first()


async def attempted(
    conn: AsyncConnection,
    delivery_id: str,
    status_code: int | None,
    error: str | None,
    delivered: bool,
) -> None:
    values: dict[str, Any] = {
        "attempts": WebhookDelivery.attempts + 1,
        "last_status": status_code,
        "last_error": error,
        "updated_at": func.now(),
    }
    if delivered:
        values |= {"status": "delivered", "delivered_at": func.now()}
    await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
        .values(**values)
    )


async def give_up(conn: AsyncConnection, delivery_id: str) -> None:
    await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
        .values(status="failed", updated_at=func.now())
    )


async def resend(
    conn: AsyncConnection, org_id: str, webhook_id: str, delivery_id: str
) -> str | None:
    """A failed delivery back to the outbox (the same ID, body and signature); its status
    before, or None when there is no such delivery."""
    row = (
        await conn.execute(
            select(WebhookDelivery.status)
            .where(
                WebhookDelivery.org_id == org_id,
                WebhookDelivery.webhook_id == webhook_id,
                WebhookDelivery.id == delivery_id,
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    if row.status == "failed":
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(
                status="pending",
                started_at=None,
                resends=WebhookDelivery.resends + 1,
                updated_at=func.now(),
            )
        )
    return str(row.status)
