"""A webhook receiver on 127.0.0.1. By default it answers every delivery 204 at once (the drain
with a subscriber: the figure is the cost of writing and sending notifications, not of a slow
receiver); the soak gives it a flakier answer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)


@contextlib.asynccontextmanager
async def receiver(
    port: int, answer: Callable[[web.Request], Awaitable[web.Response]] = accept
) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()
