"""Drops cached API keys and trigger definitions when another process changes them.

One LISTEN connection per API process (``store.listening``) hears the store's change notices
(``store.changes``), each naming what changed, and drops that entry (or that org's) alone.
Every (re)connect drops everything, as notices sent while disconnected are lost; the caches'
TTL still bounds staleness should the database be unreachable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from src.store.cache import TTLCache
from src.store.changes import CHANNEL, parse
from src.store.listening import listen as listening


async def listen(database_url: str, caches: Mapping[str, TTLCache[Any, Any]]) -> None:
    """Run until cancelled: clear the cache a notice names, all of them after a reconnect."""

    def heard(payload: str) -> None:
        notice = parse(payload)
        cache = caches.get(notice.topic) if notice is not None else None
        if notice is None or cache is None:
            return
        if notice.org_id is None:
            cache.clear()
        else:
            cache.forget(notice.org_id, notice.what)

    def connected() -> None:  # whatever changed while nobody listened
        for cache in caches.values():
            cache.clear()

    await listening(database_url, CHANNEL, heard, connected)
