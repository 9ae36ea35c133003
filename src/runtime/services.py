"""Running the API and/or the worker in this process until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from src.api.app import create_app
from src.config import Settings
from src.runtime.worker import run_worker

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops all its services at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run(settings: Settings, api: bool = True, worker: bool = True) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    server = None
    if worker:
        tasks.append(asyncio.create_task(run_worker(settings), name="worker"))
    if api:
        config = uvicorn.Config(
            create_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            log_level=settings.log_level.lower(),
            access_log=False,
        )
        server = _Server(config)
        tasks.append(asyncio.create_task(server.serve(), name="api"))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping")
    if server is not None:
        server.should_exit = True
    for task in tasks:
        if task.get_name() != "api":
            task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    for task, result in zip(tasks, results, strict=True):
        failed = isinstance(result, BaseException) and not isinstance(
            result, asyncio.CancelledError
        )
        if failed and task in done and not stop.is_set():
            raise result  # type: ignore[misc]
