"""Whatever a client sends, the reply is a clear 4xx naming the field, never a 500, and what is
accepted can always be processed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.guide import ok
from tests.support import Tenant, wait_for_event

ACTIONS = "/api/audience/internal/actions"


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def error(reply: Any, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    return dict(reply.json()["error"])


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (nested(256), "data", "nested deeper than 32 levels (at data.a.a.a.a.a…)"),
        ({"k": ["x"] * 1001}, "data", "more than 1000 items (at data.k)"),
        ({"k": "x" * 16_385}, "data", "longer than 16384 characters (at data.k)"),
        ({"k" * 257: 1}, "data", "a key is longer than 256 (at data)"),
    ],
)
async def test_unbounded_action_data_is_a_422(
    tenant: Tenant, data: Any, field: str, message: str
) -> None:
    body = {"userId": "u", "action": "visit", "data": data}
    err = error(await tenant.http.post(ACTIONS, json=body), 422)
    assert err["details"][0]["field"] == field
    assert message in err["details"][0]["message"]


async def test_the_deepest_accepted_data_is_processed(tenant: Tenant) -> None:
    """The bound leaves room for everything downstream: 32 levels are accepted and run."""
    await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
    body = {"userId": "u", "action": "visit", "data": nested(31), "metadata": nested(31)}
    event_id = (await ok(await tenant.http.post(ACTIONS, json=body), 202))["eventId"]
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"


async def test_an_unbounded_item_rejects_only_itself_in_a_batch(tenant: Tenant) -> None:
    good = {"userId": "u", "action": "visit"}
    deep = {**good, "data": nested(256)}
    reply = await ok(
        await tenant.http.post(f"{ACTIONS}/batch", json={"actions": [good, deep, good]}), 202
    )
    assert [r["status"] for r in reply["results"]] == [202, 422, 202]
    assert reply["results"][1]["error"]["details"][0]["field"] == "data"


async def test_unbounded_campaign_condition_is_a_422(tenant: Tenant) -> None:
    campaign = {
        "name": "deep",
        "triggers": [
            {
                "type": "visit",
                "conditions": [{"field": "x", "operator": "==", "value": nested(300)}],
            }
        ],
        "effects": [{"type": "add_points", "config": {"amount": 1}}],
    }
    err = error(await tenant.http.post("/v1/campaigns", json=campaign), 422)
    assert err["details"][0]["field"].startswith("triggers.0.conditions.0.value")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b"A1\n\xff\xfeB2\n", "body", "not valid UTF-8 (byte 3)"),
        (b'A1\n"B2\nC3\n', "line 3", "malformed CSV"),
        (b"A1\n" + b"x" * 131_073 + b"\n", "line 2", "malformed CSV"),
        (b"A1\n", "Content-Type", "charset latin-1 is not supported"),
    ],
)
async def test_csv_imports_are_strict(
    tenant: Tenant, body: bytes, field: str, message: str
) -> None:
    await ok(await tenant.http.post("/v1/code-pools", json={"id": "csv", "name": "CSV"}))
    charset = "latin-1" if field == "Content-Type" else "utf-8"
    reply = await tenant.http.post(
        "/v1/code-pools/csv/codes",
        content=body,
        headers={"Content-Type": f"text/csv; charset={charset}"},
    )
    err = error(reply, 422)
    assert err["details"][0]["field"] == field and message in err["details"][0]["message"]


async def test_csv_header_only_when_declared(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/code-pools", json={"id": "csv", "name": "CSV"}))
    plain = await tenant.http.post(
        "/v1/code-pools/csv/codes", content=b"code\nA1\n", headers={"Content-Type": "text/csv"}
    )
    assert (await ok(plain))["imported"] == 2  # a pool may hold a code that reads "code"
    declared = await tenant.http.post(
        "/v1/code-pools/csv/codes",
        content=b"code\nB1\n",
        headers={"Content-Type": "text/csv; header=present"},
    )
    assert (await ok(declared))["imported"] == 1
