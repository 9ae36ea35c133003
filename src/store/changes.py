"""Change notices for what API processes cache (API keys, trigger definitions).

A notice is a PostgreSQL ``NOTIFY`` sent in the writer's transaction, so listeners hear of a
change exactly when it commits, and never of one rolled back. It names what changed: the
org, and the key's ID or the trigger's key (or nothing: all the org's), so listeners drop
that alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

CHANNEL = "loyalty_changes"
# The outbox's tables announce rows to relay on this channel, by trigger (migration 0022),
# whoever writes them: the payload is the topic, "events" or "webhooks".
OUTBOX_CHANNEL = "loyalty_outbox"
Topic = Literal["keys", "triggers"]
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


@dataclass(frozen=True)
class Notice:
    topic: Topic
    org_id: str | None  # None: a notice from before 0.6.0, naming the whole topic
    what: str | None = None  # a key's ID or a trigger's key; None: all of the org's


async def announce(
    conn: AsyncConnection, topic: Topic, org_id: str, what: str | None = None
) -> None:
    payload = json.dumps({"topic": topic, "org": org_id, "what": what})
    await conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})


def parse(payload: str) -> Notice | None:
    """The notice a payload carries; None for one this release does not know."""
    if payload in ("keys", "triggers"):  # sent by a process of an earlier release
        return Notice(cast(Topic, payload), None)
    try:
        found = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(found, dict) or found.get("topic") not in ("keys", "triggers"):
        return None
    return Notice(found["topic"], found.get("org"), found.get("what"))
