"""Drops cached API keys and trigger definitions when another process changes them.

One LISTEN connection per API process hears the store's change notices (``store.changes``),
each naming what changed, and drops that entry (or that org's) alone. Notices sent while it
is disconnected are lost, so every (re)connect drops everything; the caches' TTL still
bounds staleness should the database be unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from src.services.cache import TTLCache
from src.store.changes import CHANNEL, parse

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 1.0
PROBE_SECONDS = 15.0  # an idle connection a network silently dropped must still be noticed


async def listen(database_url: str, caches: Mapping[str, TTLCache[Any, Any]]) -> None:
    """Run until cancelled: clear the cache a notice names, all of them after a reconnect."""
    while True:
        try:
            await _listen_once(database_url, caches)
        except Exception as exc:  # never let the task die: the TTL alone is a slow fallback
            log.warning("change notices interrupted (%s); retrying", exc)
        await asyncio.sleep(RECONNECT_SECONDS)


async def _connect(database_url: str) -> asyncpg.Connection:
    """The server and credentials only: other URL options are the pool's (SQLAlchemy's)."""
    url = make_url(database_url)
    socket = url.query.get("host")
    return await asyncpg.connect(
        host=socket if isinstance(socket, str) else url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
        server_settings={"application_name": "loyalty-notices"},
    )


async def _listen_once(database_url: str, caches: Mapping[str, TTLCache[Any, Any]]) -> None:
    """One LISTEN connection, until it is lost."""
    conn = await _connect(database_url)
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _conn: lost.set())

    def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        notice = parse(payload)
        cache = caches.get(notice.topic) if notice is not None else None
        if notice is None or cache is None:
            return
        if notice.org_id is None:
            cache.clear()
        else:
            cache.forget(notice.org_id, notice.what)

    try:
        await conn.add_listener(CHANNEL, heard)
        for cache in caches.values():  # whatever changed while nobody listened
            cache.clear()
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), PROBE_SECONDS)
            if not lost.is_set():
                await conn.fetchval("SELECT 1", timeout=PROBE_SECONDS)
    finally:
        if not conn.is_closed():
            conn.terminate()
