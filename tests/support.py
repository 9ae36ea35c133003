"""Helpers shared by the tests: tenants (org + API key + HTTP client), fault hooks, polling."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiohttp import web
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from src.activities.actions import Hooks
from src.cli import processes
from src.config import Settings
from src.domain.actions import ActionInput
from src.domain.effects import EffectRequest, EffectResult
from src.domain.reversals import ReversalInput, ReversalResult
from src.domain.scopes import SCOPES
from src.store import keys, orgs
from src.store.db import migrate
from src.store.tables import Event, LedgerEntry
from src.worker import serve

# The tests' key for sealing Temporal payloads: fixed, so the histories they record replay.
ACTIONS = "/api/audience/internal/actions"
TEST_PAYLOAD_KEYS = "test:" + base64.b64encode(hashlib.sha256(b"loyalty tests").digest()).decode()


def metric(name: str, **labels: str) -> float:
    """A sample of this process' metrics (the tests' worker runs in it), 0 until counted."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def settled_count(status: str, reason: str = "") -> float:
    return metric("loyalty_events_settled_total", status=status, reason=reason)


SLOW_REPLY = 1.5  # beyond the tests' webhook timeout (1 s)


class Receiver:
    """Answers each webhook-id's first attempt 500, its second too late, then 200."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.tries: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append((headers, body))
        msg = headers.get("webhook-id", "")
        self.tries[msg] = self.tries.get(msg, 0) + 1
        if self.tries[msg] == 1:
            return web.Response(status=500)
        if self.tries[msg] == 2:
            await asyncio.sleep(SLOW_REPLY)
        return web.Response(status=204)


@dataclass
class Faults:
    """Test-only faults, by org: fail an effect's or a reversal's first attempt *after* its
    transaction committed, hold an effect's attempt open, or fail every plan or reversal."""

    fail_after_commit: set[str] = field(default_factory=set)
    hold_failed_effects: dict[str, float] = field(default_factory=dict)  # org -> seconds
    fail_plans: set[str] = field(default_factory=set)
    fail_reversals_after_commit: set[str] = field(default_factory=set)
    fail_reversals: set[str] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)

    async def after_effect(self, request: EffectRequest, result: EffectResult) -> None:
        key = request.effect.key
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if result.status == "failed" and request.org_id in self.hold_failed_effects:
            await asyncio.sleep(self.hold_failed_effects[request.org_id])
        if request.org_id in self.fail_after_commit and self.attempts[key] == 1:
            raise RuntimeError(f"injected fault after commit of {key}")

    async def before_plan(self, action: ActionInput) -> None:
        if action.org_id in self.fail_plans:
            raise RuntimeError(f"injected planning fault in {action.event_id}")

    async def before_reversal(self, reversal: ReversalInput) -> None:
        if reversal.org_id in self.fail_reversals:
            raise RuntimeError(f"injected reversal fault in {reversal.reversal_id}")

    async def after_reversal(self, reversal: ReversalInput, _: ReversalResult) -> None:
        key = reversal.reversal_id
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if reversal.org_id in self.fail_reversals_after_commit and self.attempts[key] == 1:
            raise RuntimeError(f"injected fault after commit of {key}")

    @property
    def hooks(self) -> Hooks:
        return Hooks(
            before_plan=self.before_plan,
            before_reversal=self.before_reversal,
            after_effect=self.after_effect,
            after_reversal=self.after_reversal,
        )


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
        org_id = await orgs.create(conn, f"test-{uuid.uuid4().hex[:6]}")
        key_id, secret = await keys.create(conn, org_id, "test", scopes or list(SCOPES))
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


async def until(check: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not so after {within}s")


async def run_cli(*args: str, env: dict[str, str], exit_code: int = 0) -> str:
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
    assert process.returncode == exit_code, err.decode()[-3000:]
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
    client: Client, engine: AsyncEngine, settings: Settings, hooks: Hooks | None = None
) -> AsyncIterator[None]:
    """What `loyalty worker` runs, in this process: the ProcessAction worker, the relay and
    the reconciler; stopped as SIGTERM stops them."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(client, engine, settings, stop, hooks))
    try:
        yield
    finally:
        stop.set()
        await task


WORKER = [sys.executable, "-c", "from src.cli.main import app; app()", "worker"]
STALLING_WORKER = [sys.executable, "-m", "tests.e2e.stalling_worker"]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a `loyalty` process reads these settings from."""
    values = settings.model_dump(mode="json", exclude_none=True)
    return {
        **os.environ,
        **{k.upper(): v if isinstance(v, str) else json.dumps(v) for k, v in values.items()},
    }


@contextlib.asynccontextmanager
async def worker_process(settings: Settings) -> AsyncIterator[asyncio.subprocess.Process]:
    """`loyalty worker` in a process of its own, as deployed; SIGTERMed at the end."""
    process = await asyncio.create_subprocess_exec(*WORKER, env=settings_env(settings))
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 60)


def redis_url() -> str:
    """The tests' Redis (LOYALTY_TEST_REDIS_URL, else the usual local port), on a database
    number of this pytest-xdist worker's own (gw0 -> /1, gw1 -> /2, ...) when under xdist:
    the limits of sessions running side by side never meet."""
    url = os.environ.get("LOYALTY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    number = int(worker.removeprefix("gw")) % 15 + 1  # a Redis has databases 0 to 15
    return make_url(url).set(database=str(number)).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def api_server(settings: Settings) -> AsyncIterator[str]:
    """The real API on a free loopback port; yields its base URL."""
    port = free_port()
    server = processes.api_server(
        settings.model_copy(update={"api_host": "127.0.0.1", "api_port": port})
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


def error_of(reply: httpx.Response) -> dict[str, Any]:
    """The reply's error, checked to have exactly the API's one error shape."""
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


async def ledger_consistent(engine: AsyncEngine, org_id: str) -> None:
    """sum(ledger) = balance for every user, and no ledger key twice."""
    async with engine.connect() as conn:
        mismatched = (
            await conn.execute(
                text(
                    """
                    SELECT b.user_id, b.balance, COALESCE(SUM(l.amount), 0) AS total
                    FROM balances b
                    LEFT JOIN ledger l ON l.org_id = b.org_id AND l.user_id = b.user_id
                         AND l.type = 'points' AND l.currency = b.currency
                    WHERE b.org_id = :org
                    GROUP BY b.user_id, b.currency, b.balance
                    HAVING b.balance <> COALESCE(SUM(l.amount), 0)
                    """
                ),
                {"org": org_id},
            )
        ).all()
        dupes = await conn.scalar(
            select(func.count() - func.count(LedgerEntry.idempotency_key.distinct())).where(
                LedgerEntry.org_id == org_id
            )
        )
    assert mismatched == [] and dupes == 0
