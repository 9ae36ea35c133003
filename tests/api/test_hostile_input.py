"""Whatever a client sends, the reply is a clear 4xx naming the field, never a 500, and what is
accepted can always be processed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from src.store import keys
from src.store.db import make_engine
from tests.guide import ok
from tests.support import ACTIONS, Tenant, wait_for_event, wait_for_events

# What these tests accept must also be processed.
pytestmark = pytest.mark.usefixtures("worker")


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


async def test_timestamps_far_ahead_are_refused(tenant: Tenant) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    body = {"userId": "u", "action": "visit", "timestamp": ahead}
    err = error(await tenant.http.post(ACTIONS, json=body), 422)
    assert err["details"][0]["field"] == "timestamp"
    batch = await ok(
        await tenant.http.post(
            f"{ACTIONS}/batch", json={"actions": [body, {"userId": "u", "action": "visit"}]}
        ),
        202,
    )
    assert [r["status"] for r in batch["results"]] == [422, 202]


async def test_old_timestamps_do_not_reopen_ended_campaigns(tenant: Tenant) -> None:
    """Dated 2019, an action is judged by when it was accepted: a campaign that ended in
    2020 does not fire (the guide's own example date, 2025, is still accepted)."""
    await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "2019 only",
                "startAt": "2019-01-01T00:00:00Z",
                "endAt": "2020-01-01T00:00:00Z",
                "triggers": [{"type": "visit"}],
                "effects": [{"type": "add_points", "config": {"amount": 5}}],
            },
        )
    )
    body = {"userId": "u", "action": "visit", "timestamp": "2019-06-01T12:00:00Z"}
    event = await wait_for_event(
        tenant, (await ok(await tenant.http.post(ACTIONS, json=body), 202))["eventId"]
    )
    assert event["matchedCampaigns"] == [] and event["judgedAt"] == event["acceptedAt"]
    assert event["timestamp"].startswith("2019-06-01")
    guide = {"userId": "u", "action": "visit", "timestamp": "2025-10-06T16:45:00Z"}
    assert (await tenant.http.post(ACTIONS, json=guide)).status_code == 202


async def test_contact_shaped_ids_are_not_platform_ids(tenant: Tenant) -> None:
    for bad in ("victim@example.com", "+44 7700 900123", "+447700900123"):
        err = error(await tenant.http.post("/v1/users", json={"id": bad}), 422)
        assert err["details"][0]["field"] == "id"
    await ok(await tenant.http.post("/v1/users", json={"id": "+1"}))  # too short for a phone
    await ok(await tenant.http.patch("/v1/org/settings", json={"unknownUsers": "enroll"}), 200)
    body = {"userId": "stranger@example.com", "action": "visit"}
    event_id = (await ok(await tenant.http.post(ACTIONS, json=body), 202))["eventId"]
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "skipped" and event["reason"] == "unenrollable_id"
    assert (await tenant.http.get("/v1/users/stranger@example.com")).status_code == 404


async def test_a_retried_batch_grants_once(tenant: Tenant, engine: AsyncEngine) -> None:
    await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={
                "name": "visit",
                "triggers": [{"type": "visit"}],
                "effects": [{"type": "add_points", "config": {"amount": 5}}],
            },
        )
    )
    batch = {"actions": [{"userId": "u", "action": "visit"}] * 3}
    sent = [
        await ok(
            await tenant.http.post(
                f"{ACTIONS}/batch", json=batch, headers={"Idempotency-Key": "nightly-42"}
            ),
            202,
        )
        for _ in range(2)
    ]
    first, again = ([r["eventId"] for r in s["results"]] for s in sent)
    assert first == again and len(set(first)) == 3
    await wait_for_events(engine, first)
    assert (await tenant.http.get("/v1/users/u")).json()["balances"] == {"points": 15}


async def test_rotation_mints_one_successor_only(tenant: Tenant, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        key_id, _ = await keys.create(conn, tenant.org_id, "pos", ["actions:write"])
    rotated = await ok(await tenant.http.post(f"/v1/api-keys/{key_id}/rotate", json={}))
    again = error(await tenant.http.post(f"/v1/api-keys/{key_id}/rotate", json={}), 409)
    assert again["details"] == {"replacedBy": rotated["id"]}
    expired = await ok(
        await tenant.http.post(f"/v1/api-keys/{rotated['id']}/rotate", json={"graceSeconds": 0})
    )
    error(await tenant.http.post(f"/v1/api-keys/{rotated['id']}/rotate", json={}), 409)
    assert (await tenant.http.delete(f"/v1/api-keys/{expired['id']}")).status_code == 204
    error(await tenant.http.post(f"/v1/api-keys/{expired['id']}/rotate", json={}), 409)
    error(await tenant.http.post("/v1/api-keys/key_0000000000000000/rotate", json={}), 404)


async def test_database_errors_echo_nothing(tenant: Tenant) -> None:
    err = error(await tenant.http.get("/v1/users/%00"), 422)
    assert err == {
        "code": "invalid_value",
        "message": "a value in the request cannot be stored",
        "details": None,
    }
    assert make_engine("postgresql+asyncpg://x@localhost/x").sync_engine.hide_parameters


async def test_unstorable_text_is_refused_per_item(tenant: Tenant) -> None:
    good = '{"userId": "u", "action": "visit"}'
    lone = '{"userId": "u", "action": "visit", "data": {"note": "\\ud800"}}'
    raw = ('{"actions": [' + ", ".join([good, lone, good]) + "]}").encode()
    reply = await ok(
        await tenant.http.post(
            f"{ACTIONS}/batch", content=raw, headers={"Content-Type": "application/json"}
        ),
        202,
    )
    assert [r["status"] for r in reply["results"]] == [202, 422, 202]
    assert "surrogate" in reply["results"][1]["error"]["message"]
    nul = await tenant.http.post("/v1/products", json={"name": "a\x00b"})
    assert error(nul, 422)["details"][0]["field"] == "name"


async def test_a_huge_csv_is_refused_without_parsing_it_all(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/code-pools", json={"id": "csv", "name": "CSV"}))
    body = b"A1\n" * 5_000_000  # 15 MB of rows: refused once past 100,000
    reply = await tenant.http.post(
        "/v1/code-pools/csv/codes", content=body, headers={"Content-Type": "text/csv"}
    )
    assert error(reply, 422)["details"][0]["field"] == "codes"
    assert (await tenant.http.get("/healthz")).status_code == 200


async def test_resolved_users_need_users_read(tenant: Tenant, engine: AsyncEngine) -> None:
    await ok(await tenant.http.post("/v1/users", json={"id": "vic", "email": "vic@example.com"}))
    await ok(await tenant.http.patch("/v1/org/settings", json={"userLookup": {"email": True}}), 200)
    async with engine.begin() as conn:
        _, secret = await keys.create(conn, tenant.org_id, "pos", ["actions:write"])
    pos = {"Authorization": f"Bearer {secret}"}
    body = {"userId": "vic@example.com", "action": "visit"}
    event_id = (await ok(await tenant.http.post(ACTIONS, json=body, headers=pos), 202))["eventId"]
    await wait_for_event(tenant, event_id)
    seen = await ok(await tenant.http.get(f"{ACTIONS}/{event_id}", headers=pos), 200)
    assert seen["resolvedUserId"] is None and seen["userId"] is None
    assert (await tenant.http.get(f"{ACTIONS}/{event_id}")).json()["resolvedUserId"] == "vic"
    for vanity in ("+1-650-CALL-NOW", "+44/7911/123456"):
        assert (await tenant.http.post("/v1/users", json={"id": vanity})).status_code == 422


async def test_unstorable_input_is_a_client_error(tenant: Tenant) -> None:
    http = tenant.http
    nul_id = await http.post(
        ACTIONS,
        content=b'{"userId":"a\\u0000b","action":"x"}',
        headers={"Content-Type": "application/json"},
    )
    assert nul_id.status_code == 422 and nul_id.json()["error"]["details"][0]["field"] == "userId"
    for raw in (
        b'{"userId":"u","action":"x","data":{"n":1e400}}',
        b'{"userId":"u","action":"x","data":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ):
        reply = await http.post(ACTIONS, content=raw, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400, reply.text
    ancient = await http.post(
        ACTIONS, json={"userId": "u", "action": "x", "timestamp": "0001-01-01T00:00:00+05:00"}
    )
    assert (
        ancient.status_code == 422 and ancient.json()["error"]["details"][0]["field"] == "timestamp"
    )
    assert (await http.get("/v1/transactions", params={"cursor": "txn_²"})).status_code == 422
    assert (
        await http.get("/v1/transactions", params={"cursor": "txn_99999999999999999999"})
    ).status_code == 422
    nul = await http.get("/api/audience/transactions", params={"userId": "a\x00b"})
    assert nul.status_code == 422 and nul.json()["error"]["code"] == "invalid_value"
    huge_stock = await http.post("/v1/products", json={"name": "x", "stock": 2**40})
    assert huge_stock.status_code == 422
