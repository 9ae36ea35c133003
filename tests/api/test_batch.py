"""Batch ingestion: per-item results in order, one bad item rejects only itself."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.guide import FLOW_ACTION, setup_guide
from tests.support import Tenant, wait_for_events

# What these tests accept must also be processed.
pytestmark = pytest.mark.usefixtures("worker")

BATCH = "/api/audience/internal/actions/batch"


async def test_batch_mixed_items(tenant: Tenant, engine: AsyncEngine) -> None:
    await setup_guide(tenant)
    items = [
        {**FLOW_ACTION, "idempotencyKey": "b-1"},
        {"userId": "user_123"},  # no action
        {**FLOW_ACTION, "data": {"amount": 5}},
        {**FLOW_ACTION, "idempotencyKey": "b-1"},  # same key, same body, same batch
        {**FLOW_ACTION, "idempotencyKey": "b-1", "data": {"amount": 1}},  # same key, new body
        "not an object",
        {**FLOW_ACTION, "timestamp": "2025-10-06T16:45:00"},  # no timezone
    ]
    reply = await tenant.http.post(BATCH, json={"actions": items})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [202, 422, 202, 202, 409, 422, 422]
    assert body["accepted"] == 3 and body["rejected"] == 4
    assert results[0]["eventId"] == results[3]["eventId"]
    assert results[1]["error"]["details"][0]["field"] == "action"
    assert results[6]["error"]["details"][0]["field"] == "timestamp"
    assert results[4]["error"]["code"] == "idempotency_conflict"

    again = (await tenant.http.post(BATCH, json={"actions": [items[0]]})).json()
    assert again["results"][0]["eventId"] == results[0]["eventId"]

    ids = [results[0]["eventId"], results[2]["eventId"]]
    assert set((await wait_for_events(engine, ids)).values()) == {"processed"}
    user = (await tenant.http.get("/v1/users/user_123")).json()
    assert user["balances"] == {"points": 500}


async def test_batch_envelope_errors(tenant: Tenant) -> None:
    too_many = await tenant.http.post(BATCH, json={"actions": [FLOW_ACTION] * 101})
    assert too_many.status_code == 413
    assert too_many.json()["error"]["details"][0]["field"] == "actions"
    for bad in ({}, {"actions": []}, {"actions": {"a": 1}}, [FLOW_ACTION]):
        reply = await tenant.http.post(BATCH, json=bad)
        assert reply.status_code == 422, bad
    full = await tenant.http.post(BATCH, json={"actions": [FLOW_ACTION] * 100})
    assert full.status_code == 202 and full.json()["accepted"] == 100
    big = {**FLOW_ACTION, "data": {"blob": "x" * 70_000}}
    mixed = await tenant.http.post(BATCH, json={"actions": [big, FLOW_ACTION]})
    assert [r["status"] for r in mixed.json()["results"]] == [413, 202]
