"""Helpers shared by the tests: tenants (org + API key + HTTP client), fault hooks, polling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import uvicorn
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from src.activities.actions import AfterCommitHook
from src.api.app import create_app
from src.config import Settings
from src.domain.effects import EffectRequest, EffectResult
from src.runtime import relay
from src.runtime.services import _Server
from src.runtime.worker import build_worker
from src.store import orgs
from src.store.db import migrate
from src.store.tables import Event


@dataclass
class Faults:
    """Test-only fault hook: fail chosen effect attempts *after* their transaction committed."""

    fail_after_commit: set[str] = field(default_factory=set)  # org IDs
    attempts: dict[str, int] = field(default_factory=dict)

    def after_commit(self, request: EffectRequest, result: EffectResult) -> None:
        key = request.effect.key
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if request.org_id in self.fail_after_commit and self.attempts[key] == 1:
            raise RuntimeError(f"injected fault after commit of {key}")


@dataclass
class Tenant:
    org_id: str
    key_id: str
    secret: str
    http: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", "X-Monterosa-Org-ID": self.org_id}


async def make_tenant(
    engine: AsyncEngine, base_url: str, scopes: list[str] | None = None
) -> Tenant:
    async with engine.begin() as conn:
        org_id = await orgs.create_org(conn, f"test-{uuid.uuid4().hex[:6]}")
        key_id, secret = await orgs.create_key(
            conn, org_id, "test", scopes or list(orgs.ALL_SCOPES)
        )
    http = httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": org_id},
        timeout=30,
    )
    return Tenant(org_id, key_id, secret, http)


TERMINAL = {"processed", "skipped", "failed"}


async def wait_for_event(tenant: Tenant, event_id: str, within: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        reply = await tenant.http.get(f"/api/audience/internal/actions/{event_id}")
        assert reply.status_code == 200, reply.text
        body = reply.json()
        if body["status"] in TERMINAL:
            return dict(body)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"event {event_id} still {body['status']} after {within}s")
        await asyncio.sleep(0.1)


async def wait_for_events(
    engine: AsyncEngine, event_ids: list[str], within: float = 120
) -> dict[str, str]:
    """Statuses of many events once all are terminal: one query a poll, not one per event."""
    query = select(Event.id, Event.status).where(Event.id.in_(event_ids))
    async with asyncio.timeout(within):
        while True:
            async with engine.connect() as conn:
                statuses = {row.id: row.status for row in await conn.execute(query)}
            if len(statuses) == len(set(event_ids)) and set(statuses.values()) <= TERMINAL:
                return statuses
            await asyncio.sleep(0.2)


async def run_cli(*args: str, env: dict[str, str]) -> str:
    """Run `loyalty ARGS` in a subprocess without blocking this loop's worker and API."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from src.cli.main import app; app()",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def workflow_result(client: Client, event_id: str, within: float = 60) -> Any:
    """The result of an event's workflow, once the relay has started it."""
    async with asyncio.timeout(within):
        while True:
            try:
                return await client.get_workflow_handle(event_id).result()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(0.05)


class Databases:
    """Creates migrated databases on one PostgreSQL server and drops them at the end."""

    def __init__(self, server_url: str) -> None:
        self.server = make_url(server_url)
        self.names: list[str] = []

    async def _admin(self, sql: str) -> None:
        dsn = self.server.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self, revision: str = "head") -> str:
        name = f"loyalty_test_{secrets.token_hex(4)}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        url = self.server.set(database=name).render_as_string(hide_password=False)
        await migrate(url, revision)
        return url

    async def drop_all(self) -> None:
        for name in self.names:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def worker_and_relay(
    client: Client,
    engine: AsyncEngine,
    task_queue: str,
    after_commit: AfterCommitHook | None = None,
) -> AsyncIterator[None]:
    """What `loyalty worker` runs, in this process: the ProcessAction worker and the relay."""
    w = build_worker(client, engine, task_queue, after_commit=after_commit)
    async with w:
        task = asyncio.create_task(relay.run_forever(client, engine, task_queue, 0.02))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def api_server(settings: Settings) -> AsyncIterator[str]:
    """The real API on a free loopback port; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = _Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
