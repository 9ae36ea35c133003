"""Test infrastructure: a real PostgreSQL, a real Temporal dev server, the real API over HTTP.

PostgreSQL is the embedded wheel unless LOYALTY_TEST_DATABASE_URL names a server; either way
each session (and each test that needs isolation) gets fresh databases, dropped afterwards.
Under pytest-xdist (`make test`) each worker is a session of its own: its own databases,
Temporal dev server (on free ports) and Redis database number (``tests.support.redis_url``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import hypothesis
import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from src.cli.devstack import address_of, embedded_postgres, temporal_dev_server
from src.config import Settings
from src.store.db import make_engine
from tests.support import (
    TEST_PAYLOAD_KEYS,
    Databases,
    Faults,
    Receiver,
    Tenant,
    api_server,
    free_port,
    make_tenant,
    worker_and_relay,
)

TASK_QUEUE = "loyalty-test"
# Every fixture that starts something depends on one of these.
STACK = {"pg_server", "temporal"}


# Tests check outcomes, not speed: on a loaded machine (workers side by side) any example may
# be paused for longer than Hypothesis' default deadline.
hypothesis.settings.register_profile("loyalty", deadline=None)
hypothesis.settings.load_profile("loyalty")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``pure`` each test that starts nothing (``make test-fast`` runs those alone)."""
    for item in items:
        if STACK.isdisjoint(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pure)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    server = os.environ.get("LOYALTY_TEST_DATABASE_URL")
    if server:
        yield make_url(server).set(drivername="postgresql+asyncpg").render_as_string(False)
        return
    with ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loyalty-pg-")))
        yield stack.enter_context(embedded_postgres(data / "pg"))


@pytest_asyncio.fixture(scope="session")
async def databases(pg_server: str) -> AsyncIterator[Databases]:
    dbs = Databases(pg_server)
    try:
        yield dbs
    finally:
        await dbs.drop_all()


@pytest_asyncio.fixture(scope="session")
async def database_url(databases: Databases) -> str:
    return await databases.create()


@pytest.fixture
def fresh_database(databases: Databases) -> Callable[[], Awaitable[str]]:
    """A new, migrated, empty database: for tests whose relay must see only their events."""
    return databases.create


@pytest_asyncio.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await temporal_dev_server(payload_keys=TEST_PAYLOAD_KEYS)
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
        payload_keys=TEST_PAYLOAD_KEYS,
        db_pool_size=10,
        relay_idle_seconds=0.02,
        activity_max_attempts=3,
        # Webhooks: the tests' receivers listen on loopback, and retries come quickly.
        webhooks_allow_private_targets=True,
        webhook_timeout_seconds=1.0,
        webhook_first_retry_seconds=0.2,
        webhook_max_retry_seconds=1.0,
        webhook_give_up_seconds=60.0,
        log_level="WARNING",
        # Many APIs and workers run in one test process: no fixed metrics ports.
        api_metrics_port=0,
        worker_metrics_port=0,
        temporal_sdk_metrics_port=0,
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
async def worker(
    client: Client, engine: AsyncEngine, settings: Settings, faults: Faults
) -> AsyncIterator[None]:
    async with worker_and_relay(client, engine, settings, faults.hooks):
        yield


@pytest_asyncio.fixture(scope="session")
async def api_url(settings: Settings) -> AsyncIterator[str]:
    """The API alone: what it accepts is not processed unless a test also has ``worker``."""
    async with api_server(settings) as url:
        yield url


@pytest_asyncio.fixture(scope="session")
async def base_url(api_url: str, worker: None) -> str:  # noqa: ARG001 (to start it)
    """The API with the worker and relay running: accepted actions get processed."""
    return api_url


@pytest_asyncio.fixture
async def tenant(engine: AsyncEngine, api_url: str) -> AsyncIterator[Tenant]:
    t = await make_tenant(engine, api_url)
    yield t
    await t.http.aclose()


@pytest_asyncio.fixture
async def webhook_receiver() -> AsyncIterator[tuple[Receiver, str]]:
    got = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", got.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield got, f"http://127.0.0.1:{port}/hooks"
    finally:
        await runner.cleanup()
