"""How an event's ending is announced: the ``event.failed`` notification, whichever path
failed it (an effect, planning giving up, a start Temporal refuses, a stranded run)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from src.store import webhooks


async def announce_failed(
    conn: AsyncConnection, org_id: str, event_id: str, reason: str | None
) -> None:
    """In the transaction that failed the event, so it is sent if and only if that commits."""
    body = {"eventId": event_id, "status": "failed", "reason": reason}
    await webhooks.notify(conn, org_id, "event.failed", body)
