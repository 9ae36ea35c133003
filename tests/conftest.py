"""Test infrastructure: a real PostgreSQL, a real Temporal dev server, the real API over HTTP.

PostgreSQL is the embedded wheel unless LOYALTY_TEST_DATABASE_URL names a server, in which
case a fresh database is created there for the session and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from src.api.app import create_app
from src.config import Settings
from src.runtime.devstack import address_of, embedded_postgres, temporal_dev_server
from src.runtime.services import _Server
from src.runtime.worker import build_worker
from src.store.db import make_engine, migrate
from tests.support import Faults, Tenant, make_tenant

TASK_QUEUE = "loyalty-test"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    server = os.environ.get("LOYALTY_TEST_DATABASE_URL")
    with ExitStack() as stack:
        if server:
            base = make_url(server).set(drivername="postgresql+asyncpg")
        else:
            data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loyalty-pg-")))
            base = make_url(stack.enter_context(embedded_postgres(data / "pg")))
        name = f"loyalty_test_{secrets.token_hex(4)}"
        admin = _asyncpg_dsn(base.render_as_string(hide_password=False))

        async def run(sql: str) -> None:
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
        asyncio.run(migrate(url))
        try:
            yield url
        finally:
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest_asyncio.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await temporal_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def settings(database_url: str, temporal: WorkflowEnvironment) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_address=address_of(temporal),
        task_queue=TASK_QUEUE,
        db_pool_size=10,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest_asyncio.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(settings.require_database_url(), 10)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def faults() -> Faults:
    return Faults()


@pytest_asyncio.fixture(scope="session")
async def client(temporal: WorkflowEnvironment) -> Client:
    return temporal.client


@pytest_asyncio.fixture(scope="session")
async def worker(client: Client, engine: AsyncEngine, faults: Faults) -> AsyncIterator[None]:
    w = build_worker(client, engine, TASK_QUEUE, after_commit=faults.after_commit)
    async with w:
        yield


@pytest_asyncio.fixture(scope="session")
async def base_url(settings: Settings, worker: None) -> AsyncIterator[str]:
    sock = __import__("socket").socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = _Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest_asyncio.fixture
async def tenant(engine: AsyncEngine, base_url: str) -> AsyncIterator[Tenant]:
    t = await make_tenant(engine, base_url)
    yield t
    await t.http.aclose()
