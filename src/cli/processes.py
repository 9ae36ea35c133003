"""Running the API and/or the worker in this process until SIGINT/SIGTERM.

A signal stops both gracefully: the API stops accepting connections and finishes the requests
in flight; the worker's relay and reconciler claim nothing more and its activities in flight
finish, each within its grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn

from src import metrics
from src.api.app import create_app
from src.config import Settings
from src.worker import run_worker
from src.workflows.codec_server import codec_app

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops all its services at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How the API is served, by one process or several."""
    return {
        "host": settings.api_host,
        "port": settings.api_port,
        "log_level": settings.log_level.lower(),
        "access_log": False,  # the API logs each request itself (src/api/access_log.py)
        "log_config": None,  # uvicorn's loggers go through this process' handler (src/logs.py)
        "loop": "uvloop",
        # Longer than clients and proxies keep idle connections (often 5-60 s), so a request
        # never lands on a connection the server is closing.
        "timeout_keep_alive": 75,
        "timeout_graceful_shutdown": int(settings.api_grace_seconds),
    }


def api_server(settings: Settings) -> _Server:
    return _Server(uvicorn.Config(create_app(settings), **uvicorn_options(settings)))


def codec_server(settings: Settings) -> _Server:
    """The codec endpoint for the Temporal UI, on its operator-only listener."""
    options = uvicorn_options(settings) | {"host": settings.codec_host, "port": settings.codec_port}
    return _Server(uvicorn.Config(codec_app(settings), **options))


# What stops a process cleanly: Ctrl-C, a service manager's SIGTERM, a closed terminal.
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def run(
    settings: Settings, api: bool = True, worker: bool = True, codec: bool = False
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOPPING:
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    servers = []
    for wanted, port in ((api, settings.api_metrics_port), (worker, settings.worker_metrics_port)):
        if wanted and port:
            try:
                metrics.serve(settings.metrics_host, port)
            except OSError as exc:  # the service runs on; its operators see why /metrics is not
                log.error("cannot serve metrics on %s:%s: %s", settings.metrics_host, port, exc)
    if worker:
        tasks.append(asyncio.create_task(run_worker(settings, stop), name="worker"))
    if api:
        servers.append(api_server(settings))
    if codec:
        servers.append(codec_server(settings))
    tasks += [asyncio.create_task(server.serve()) for server in servers]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping")
    stop.set()
    for server in servers:
        server.should_exit = True
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, BaseException) and task in done:
            raise result
