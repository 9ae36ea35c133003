"""Change notices for what API processes cache (API keys, trigger definitions).

A notice is a PostgreSQL ``NOTIFY`` sent in the writer's transaction, so listeners hear of a
change exactly when it commits, and never of one rolled back.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

CHANNEL = "loyalty_changes"
Topic = Literal["keys", "triggers"]
_NOTIFY = text("SELECT pg_notify(:channel, :topic)")


async def announce(conn: AsyncConnection, topic: Topic) -> None:
    await conn.execute(_NOTIFY, {"channel": CHANNEL, "topic": topic})
