"""One LISTEN connection on a channel, kept open for as long as its task runs.

Notices sent while it is disconnected are lost, so every (re)connect is reported: the listener
then acts as if it had heard of every change (drops its caches, looks for work).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 1.0
PROBE_SECONDS = 15.0  # an idle connection a network silently dropped must still be noticed


async def listen(
    database_url: str,
    channel: str,
    heard: Callable[[str], None],
    connected: Callable[[], None],
    name: str = "loyalty-notices",
) -> None:
    """Run until cancelled: ``heard`` each notice's payload, ``connected`` after each
    (re)connect; an error never ends the task (the listener's fallback is its own timer)."""
    while True:
        try:
            await _listen_once(database_url, channel, heard, connected, name)
        except Exception as exc:
            log.warning("notices on %s interrupted (%s); retrying", channel, exc)
        await asyncio.sleep(RECONNECT_SECONDS)


async def _connect(database_url: str, name: str) -> asyncpg.Connection:
    """The server and credentials only: other URL options are the pool's (SQLAlchemy's)."""
    url = make_url(database_url)
    socket = url.query.get("host")
    return await asyncpg.connect(
        host=socket if isinstance(socket, str) else url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
        server_settings={"application_name": name},
    )


async def _listen_once(
    database_url: str,
    channel: str,
    heard: Callable[[str], None],
    connected: Callable[[], None],
    name: str,
) -> None:
    """One LISTEN connection, until it is lost."""
    conn = await _connect(database_url, name)
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _conn: lost.set())
    try:
        await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: heard(payload))
        connected()
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), PROBE_SECONDS)
            if not lost.is_set():
                await conn.fetchval("SELECT 1", timeout=PROBE_SECONDS)
    finally:
        if not conn.is_closed():
            conn.terminate()
