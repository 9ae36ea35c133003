"""The published contract, held against the running app: schemathesis (every check, every
phase, stateful links) with the repository's ``schemathesis.toml``, and the document itself
through ``openapi-spec-validator``."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from openapi_spec_validator import validate
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.webhooks import EVENT_TYPES
from src.store import orgs
from tests.guide import FLOW_ACTION, STEP1_TRIGGER, ok
from tests.support import ACTIONS, Tenant, make_tenant

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Commands whose path says it all.
BODYLESS = {
    "replayAction",
    "activateCampaign",
    "pauseCampaign",
    "archiveCampaign",
    "rotateWebhookSecret",
    "resendWebhookDelivery",
}
# Replies whose status says it all: no body, and none published.
EMPTY_REPLIES = {"resendWebhookDelivery"}


async def test_document_is_valid_openapi(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        document = (await http.get("/openapi.json")).json()
    validate(document)
    # Every notification a receiver can get, with its body's model (OpenAPI 3.1 webhooks).
    assert set(document["webhooks"]) == set(EVENT_TYPES)
    for kind, hook in document["webhooks"].items():
        body = hook["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].rsplit("/", 1)[1] in document["components"]["schemas"], kind
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert success, where
            for status in success:
                bodiless = status == "204" or operation["operationId"] in EMPTY_REPLIES
                assert ("content" in operation["responses"][status]) is not bodiless, where
            if method in ("post", "put", "patch") and operation["operationId"] not in BODYLESS:
                assert "requestBody" in operation, where


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


async def test_schema_names_are_plain_and_constraints_are_json_schema(base_url: str) -> None:
    """What client generators need: one schema per name and title, none named by module
    path or split into -Input/-Output, and bounds as minimum/maximum (pydantic's own ge/le
    are keywords JSON Schema does not know, so generators and validators drop them)."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        document = (await http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert [n for n in schemas if not n.isidentifier() or "__" in n or "-" in n] == []
    titles = [schema.get("title", name) for name, schema in schemas.items()]
    assert sorted(t for t in set(titles) if titles.count(t) > 1) == []
    assert {"ge", "le", "gt", "lt"} & set(_keys(document)) == set()


async def test_schemathesis_finds_nothing(base_url: str, engine: AsyncEngine) -> None:
    """Zero failures; run from a subdirectory, so the root ``schemathesis.toml`` is found the
    way a developer's run finds it."""
    fuzz = await make_tenant(engine, base_url)
    await fuzz.http.aclose()
    async with engine.begin() as conn:
        await orgs.set_rate_limit(conn, fuzz.org_id, 1_000_000, 1_000_000)
    env = {
        **os.environ,
        "LOYALTY_API_URL": base_url,
        "LOYALTY_API_SECRET": fuzz.secret,
        "LOYALTY_ORG_ID": fuzz.org_id,
        "NO_COLOR": "1",
    }
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/openapi.json",
        cwd=ROOT / "tests",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-20_000:]


async def test_documented_business_rule_errors_are_what_the_api_says(tenant: Tenant) -> None:
    """The named examples of sendAction's 422 and createUser's 409 are real replies."""
    document = (await tenant.http.get("/openapi.json")).json()

    def example(path: str, status: str, name: str) -> dict[str, object]:
        response = document["paths"][path]["post"]["responses"][status]
        return dict(response["content"]["application/json"]["examples"][name]["value"])

    await ok(await tenant.http.post("/v1/triggers", json=STEP1_TRIGGER))
    contradicting = {**FLOW_ACTION, "data": {"amount": "150"}}
    reply = await tenant.http.post(ACTIONS, json=contradicting)
    assert reply.status_code == 422
    assert reply.json() == example(ACTIONS, "422", "dataContradictsTrigger")
    await ok(await tenant.http.post("/v1/users", json={"id": "user_456", "email": "a@b.co"}))
    taken = await tenant.http.post("/v1/users", json={"email": "a@b.co"})
    assert taken.status_code == 409
    assert taken.json() == example("/v1/users", "409", "emailTaken")
