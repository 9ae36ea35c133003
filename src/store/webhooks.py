"""Webhook subscriptions and their deliveries (the notification outbox)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.webhooks import DeliveryStatus, deal
from src.store.literals import PENDING
from src.store.records import record, records
from src.store.tables import Webhook, WebhookDelivery

# One statement per notification, a no-op for an org without a subscriber to its type.
_NOTIFY = text(
    f"""
    INSERT INTO webhook_deliveries (id, org_id, webhook_id, type, body, status)
    SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), w.org_id, w.id,
           CAST(:type AS text), CAST(:body AS text), {PENDING}
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


@dataclass(frozen=True)
class Subscription:
    """A webhook as its org sees it (its secret stays sealed in the store)."""

    id: str
    url: str
    events: list[str]
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: str
    type: str
    status: str  # pending | delivered | failed
    attempts: int
    resends: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    body: str  # the exact bytes sent


@dataclass(frozen=True)
class Claimed:
    """A delivery a relay pass is to start."""

    id: str
    org_id: str
    resends: int


@dataclass(frozen=True)
class Target:
    """A delivery with what its attempt needs: where to, and the sealed signing secret."""

    id: str
    body: str
    status: str
    created_at: datetime
    webhook_id: str
    url: str
    secret: str  # sealed


async def of_org(conn: AsyncConnection, org_id: str) -> list[Subscription]:
    rows = await conn.execute(
        select(Webhook).where(Webhook.org_id == org_id).order_by(Webhook.created_at)
    )
    return records(Subscription, rows)


async def get(conn: AsyncConnection, org_id: str, webhook_id: str) -> Subscription | None:
    row = (
        await conn.execute(
            select(Webhook).where(Webhook.org_id == org_id, Webhook.id == webhook_id)
        )
    ).first()
    return None if row is None else record(Subscription, row)


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


async def secrets(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Every webhook's (ID, sealed secret)."""
    rows = await conn.execute(select(Webhook.id, Webhook.secret).order_by(Webhook.id))
    return [(r.id, r.secret) for r in rows]


async def replace_secret(conn: AsyncConnection, webhook_id: str, old: str, new: str) -> int:
    """Swap the stored secret if it is still ``old`` (a rotation meanwhile wins)."""
    changed = await conn.execute(
        update(Webhook).where(Webhook.id == webhook_id, Webhook.secret == old).values(secret=new)
    )
    return int(changed.rowcount)


async def deliveries(
    conn: AsyncConnection, org_id: str, webhook_id: str, limit: int
) -> list[Delivery]:
    rows = await conn.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.org_id == org_id, WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
    )
    return records(Delivery, rows)


# One relay claims at a time, so the windows it computes hold exactly.
_RELAY_LOCK = 7_243_003
_IN_FLIGHT = text(
    f"""
    SELECT org_id, webhook_id, count(*) AS n FROM webhook_deliveries
    WHERE started_at IS NOT NULL AND status = {PENDING}
    GROUP BY org_id, webhook_id
    """
)
# Webhooks with deliveries to start, in ID order from ``after``, but those whose window is
# full: a loose index scan, one probe per webhook however long its backlog.
_WAITING_HOOKS = text(
    """
    WITH RECURSIVE waiting(webhook_id) AS (
        (SELECT webhook_id FROM webhook_deliveries
         WHERE started_at IS NULL AND webhook_id > :after ORDER BY webhook_id LIMIT 1)
        UNION ALL
        SELECT (SELECT d.webhook_id FROM webhook_deliveries d
                WHERE d.started_at IS NULL AND d.webhook_id > w.webhook_id
                ORDER BY d.webhook_id LIMIT 1)
        FROM waiting w WHERE w.webhook_id IS NOT NULL
    )
    SELECT w.webhook_id, h.org_id::text AS org_id FROM waiting w
    JOIN webhooks h ON h.id = w.webhook_id
    WHERE w.webhook_id <> ALL(CAST(:full AS text[]))
      AND h.org_id::text <> ALL(CAST(:full_orgs AS text[]))
    LIMIT :limit
    """
)
# Each chosen webhook's oldest deliveries, as many as its share.
_CLAIM = text(
    """
    SELECT d.id, d.org_id, d.resends
    FROM unnest(CAST(:hooks AS text[]), CAST(:shares AS integer[])) AS w(webhook_id, n)
    CROSS JOIN LATERAL (
        SELECT id, org_id, resends FROM webhook_deliveries d
        WHERE d.webhook_id = w.webhook_id AND d.started_at IS NULL
        ORDER BY d.created_at LIMIT w.n
        FOR UPDATE SKIP LOCKED
    ) d
    """
)


@dataclass(frozen=True)
class Window:
    """Started, undelivered deliveries allowed per webhook and per org, and starts per pass."""

    per_hook: int
    per_org: int
    batch: int


async def claim(
    conn: AsyncConnection, window: Window, after: str | None
) -> tuple[list[Claimed], str | None]:
    """Lock deliveries for one relay pass, webhooks taken round-robin from ``after``, each
    within its own window and its org's (``domain.webhooks.deal``); nothing while another
    relay holds the claim. Returns the rows and the cursor for the next pass."""
    if not await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _RELAY_LOCK}):
        return [], after
    busy_hooks: dict[str, int] = {}
    busy_orgs: dict[str, int] = {}
    for row in await conn.execute(_IN_FLIGHT):
        busy_hooks[row.webhook_id] = int(row.n)
        busy_orgs[str(row.org_id)] = busy_orgs.get(str(row.org_id), 0) + int(row.n)
    full = [hook for hook, n in busy_hooks.items() if n >= window.per_hook]
    full_orgs = [org for org, n in busy_orgs.items() if n >= window.per_org]
    params = {"after": after or "", "limit": window.batch, "full": full, "full_orgs": full_orgs}
    waiting = [(r.webhook_id, r.org_id) for r in await conn.execute(_WAITING_HOOKS, params)]
    if len(waiting) < window.batch and after:  # wrap round to the webhooks before the cursor
        seen = {hook for hook, _ in waiting}
        wrapped = await conn.execute(_WAITING_HOOKS, {**params, "after": ""})
        waiting += [(r.webhook_id, r.org_id) for r in wrapped if r.webhook_id not in seen]
    shares = deal(waiting, busy_hooks, busy_orgs, window.per_hook, window.per_org, window.batch)
    if not shares:
        return [], (waiting[-1][0] if waiting else after)
    rows = await conn.execute(_CLAIM, {"hooks": list(shares), "shares": list(shares.values())})
    claimed = [Claimed(r.id, str(r.org_id), r.resends) for r in rows]
    return claimed, list(shares)[-1]


async def purge(conn: AsyncConnection, older_than_seconds: float, limit: int) -> int:
    """Delete up to ``limit`` delivered or failed deliveries last changed ``older_than_seconds``
    ago (a bounded batch: the next pass takes the next)."""
    gone = await conn.execute(
        text(
            f"""
            DELETE FROM webhook_deliveries WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status <> {PENDING} AND updated_at < now() - make_interval(secs => :age)
                LIMIT :limit FOR UPDATE SKIP LOCKED)
            """
        ),
        {"age": older_than_seconds, "limit": limit},
    )
    return int(gone.rowcount)


async def mark_started(conn: AsyncConnection, ids: list[str]) -> None:
    if ids:
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(started_at=func.now(), updated_at=func.now())
        )


async def target(conn: AsyncConnection, delivery_id: str) -> Target | None:
    """The delivery with its webhook's URL and secret; None once the webhook is deleted."""
    row = (
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
    return None if row is None else record(Target, row)


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
        values |= {"status": DeliveryStatus.delivered, "delivered_at": func.now()}
    await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.pending)
        .values(**values)
    )


async def give_up(conn: AsyncConnection, delivery_id: str) -> None:
    await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.pending)
        .values(status=DeliveryStatus.failed, updated_at=func.now())
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
    if row.status == DeliveryStatus.failed:
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(
                status=DeliveryStatus.pending,
                started_at=None,
                resends=WebhookDelivery.resends + 1,
                updated_at=func.now(),
            )
        )
    return str(row.status)
