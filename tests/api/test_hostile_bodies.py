"""Hostile bodies, generated, at every write route of a running app: never a server error, and
nothing of another org's changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.api.app import create_app
from src.config import Settings
from src.store import orgs
from tests.guide import FLOW_ACTION, post_action, setup_guide
from tests.support import Tenant, make_tenant, wait_for_event

# What these tests accept must also be processed.
pytestmark = pytest.mark.usefixtures("worker")

WRITES = ("post", "put", "patch", "delete")
# Path parameters: names that exist in the fuzzed org, and ones that do not or should not.
IDS = st.sampled_from(
    [
        "user_123",
        "pool_discounts",
        "prod_vip_badge",
        "purchase_completed",
        "x",
        "%00",
        "..",
        "a" * 300,
    ]
)
HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        "\x00",
        "\ud800",
        "😀" * 50,
        "a" * 20_000,
        "1e999",
        "NaN",
        "-0",
        "user_123",
        "+447700900123",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
    | HOSTILE_STRINGS
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=30,
)
# Plausible bodies with one field gone wrong reach deeper than random ones.
KNOWN_FIELDS = [
    "userId",
    "action",
    "timestamp",
    "data",
    "metadata",
    "idempotencyKey",
    "actions",
    "id",
    "email",
    "phone",
    "externalIds",
    "fromUserId",
    "name",
    "triggers",
    "effects",
    "limits",
    "status",
    "priority",
    "startAt",
    "endAt",
    "key",
    "fields",
    "codes",
    "count",
    "length",
    "prefix",
    "expiresAt",
    "lowStockThreshold",
    "stock",
    "type",
    "scopes",
    "graceSeconds",
    "userLookup",
    "unknownUsers",
    "timezone",
    "maxEventAge",
    "campaignIds",
    "source",
    "externalId",
]
BODIES = (
    st.dictionaries(st.sampled_from(KNOWN_FIELDS), JSON, max_size=6)
    | st.fixed_dictionaries({}, optional={"actions": st.lists(JSON, max_size=4)})
    | JSON
    | st.builds(lambda depth: json.loads("[" * depth + "]" * depth), st.integers(30, 300))
)


def operations() -> list[tuple[str, str]]:
    spec = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
    return sorted(
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in WRITES
    )


async def snapshot(engine: AsyncEngine, org_id: str) -> dict[str, Any]:
    """Everything of an org's that a write could touch."""
    tables = [
        "users",
        "user_identities",
        "balances",
        "ledger",
        "campaigns",
        "campaign_versions",
        "triggers",
        "products",
        "code_pools",
        "codes",
        "events",
        "api_keys",
        "orgs",
    ]
    found = {}
    async with engine.connect() as conn:
        for table in tables:
            column = "id" if table == "orgs" else "org_id"
            rows = await conn.execute(
                text(f"SELECT * FROM {table} WHERE {column} = CAST(:org AS uuid) ORDER BY 1, 2"),
                {"org": org_id},
            )
            found[table] = [tuple(map(str, r)) for r in rows]
    return found


async def test_hostile_bodies_at_every_write_route(
    tenant: Tenant, engine: AsyncEngine, base_url: str
) -> None:
    neighbour = await make_tenant(engine, base_url)
    await setup_guide(neighbour)
    await wait_for_event(neighbour, await post_action(neighbour, FLOW_ACTION))
    before = await snapshot(engine, neighbour.org_id)
    await setup_guide(tenant)
    async with engine.begin() as conn:
        await orgs.set_rate_limit(conn, tenant.org_id, 100_000, 100_000)
    routes = operations()
    assert len(routes) >= 25
    cases: list[tuple[str, str, Any, bool]] = []

    @settings(
        max_examples=400,
        derandomize=True,  # the same cases in every run: CI stays deterministic
        database=None,
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(st.sampled_from(routes), IDS, BODIES, st.booleans())
    def collect(route: tuple[str, str], ident: str, body: Any, as_csv: bool) -> None:
        method, path = route
        cases.append((method, _fill(path, ident), body, as_csv))

    collect()
    failures = []
    for method, path, body, as_csv in cases:
        kind = "text/csv" if as_csv else "application/json"
        reply = await tenant.http.request(
            method.upper(), path, content=json.dumps(body).encode(), headers={"Content-Type": kind}
        )
        if reply.status_code >= 500:
            failures.append((method, path, str(body)[:200], reply.status_code, reply.text[:200]))
    assert failures == []
    assert await snapshot(engine, neighbour.org_id) == before
    await neighbour.http.aclose()


def _fill(path: str, ident: str) -> str:
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + ident + path[end + 1 :]
    return path
