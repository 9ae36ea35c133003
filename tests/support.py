"""Helpers shared by the tests: tenants (org + API key + HTTP client), fault hooks, polling."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.effects import EffectRequest, EffectResult
from src.store import orgs


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
