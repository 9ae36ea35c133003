"""How the outbox relays wait between passes that found nothing to start.

A relay is woken by what makes work: a notice that rows were written (``loyalty_outbox``,
sent by the tables' triggers, heard on one LISTEN connection per worker process) or a run of
its own process settling, which makes room in its window. Between wakes it looks again less
and less often, up to MAX_IDLE_SECONDS: that catches what no wake announces (a start backed
off to a later time, room made by another process) while an idle stack costs next to nothing.
"""

from __future__ import annotations

import asyncio

MAX_IDLE_SECONDS = 5.0


async def pause(
    stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None, at_least: float = 0.0
) -> None:
    """At most ``seconds``: less when ``stop`` is set, or ``wake`` is, but then no less than
    ``at_least`` (so a burst of wakes, one per settled run, still makes one pass, not many)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    _, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiting in pending:
        waiting.cancel()
    rest = began + min(at_least, seconds) - loop.time()
    if rest > 0 and not stop.is_set():
        await pause(stop, rest)


def longer(seconds: float, floor: float) -> float:
    """The next idle wait: twice this one (at least ``floor``), at most MAX_IDLE_SECONDS."""
    return min(max(seconds * 2, floor), MAX_IDLE_SECONDS)
