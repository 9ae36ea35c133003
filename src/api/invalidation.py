"""Drops cached API keys and trigger definitions when another process changes them.

One LISTEN connection per API process hears the store's change notices (``store.changes``).
Notices sent while it is disconnected are lost, so every (re)connect drops everything; the
caches' TTL still bounds staleness should the database be unreachable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from src.api.cache import TTLCache
from src.store.changes import CHANNEL

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 1.0


async def listen(database_url: str, caches: Mapping[str, TTLCache[Any, Any]]) -> None:
    """Run until cancelled: clear the cache a notice names, all of them after a reconnect."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    while True:
        try:
            await _listen_once(dsn, caches)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("change notices unavailable (%s); caches expire by TTL", exc)
        await asyncio.sleep(RECONNECT_SECONDS)


async def _listen_once(dsn: str, caches: Mapping[str, TTLCache[Any, Any]]) -> None:
    """One LISTEN connection, until it is lost."""
    conn = await asyncpg.connect(dsn)
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _conn: lost.set())

    def heard(_conn: object, _pid: int, _channel: str, topic: str) -> None:
        cache = caches.get(topic)
        if cache is not None:
            cache.clear()

    try:
        await conn.add_listener(CHANNEL, heard)
        for cache in caches.values():  # whatever changed while nobody listened
            cache.clear()
        await lost.wait()
    finally:
        if not conn.is_closed():
            await conn.close()
