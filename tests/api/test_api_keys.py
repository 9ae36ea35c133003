"""API-key lifecycle: create, scope, rotate, revoke."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from src.store import keys
from src.store.tables import ApiKey
from tests.guide import ok
from tests.support import ACTIONS, Tenant, error_of


def client_for(tenant: Tenant, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=str(tenant.http.base_url),
        headers={"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": tenant.org_id},
    )


async def test_create_scope_rotate_revoke(tenant: Tenant, engine: AsyncEngine) -> None:
    created = await ok(
        await tenant.http.post("/v1/api-keys", json={"name": "pos", "scopes": ["actions:write"]})
    )
    assert created["secret"].startswith("lsk_") and created["scopes"] == ["actions:write"]
    async with engine.connect() as conn:  # stored only as a digest
        assert await keys.find(conn, created["secret"]) is not None
        rows = await conn.execute(select(ApiKey).where(ApiKey.org_id == tenant.org_id))
        stored = [tuple(map(str, row)) for row in rows]
        assert len(stored) == 2
        assert created["secret"] not in json.dumps(stored)
    async with client_for(tenant, created["secret"]) as pos:
        assert (await pos.get("/v1/users")).status_code == 403
        action = {"userId": "u", "action": "store_visit"}
        assert (await pos.post(ACTIONS, json=action)).status_code == 202

        rotated = await ok(
            await tenant.http.post(f"/v1/api-keys/{created['id']}/rotate", json={"graceSeconds": 0})
        )
        assert rotated["replaces"] == created["id"]
        assert (await pos.post(ACTIONS, json=action)).status_code == 401
    async with client_for(tenant, rotated["secret"]) as fresh:
        assert (await fresh.post(ACTIONS, json=action)).status_code == 202
        assert (await tenant.http.delete(f"/v1/api-keys/{rotated['id']}")).status_code == 204
        assert (await fresh.post(ACTIONS, json=action)).status_code == 401
    listed = (await tenant.http.get("/v1/api-keys")).json()["data"]
    assert {k["id"] for k in listed} >= {created["id"], rotated["id"]}
    bad = await tenant.http.post("/v1/api-keys", json={"name": "x", "scopes": ["root"]})
    assert bad.status_code == 422


async def test_a_key_cannot_revoke_itself(tenant: Tenant) -> None:
    reply = await tenant.http.delete(f"/v1/api-keys/{tenant.key_id}")
    assert reply.status_code == 409 and error_of(reply)["code"] == "key_in_use"
    assert (await tenant.http.get("/v1/api-keys")).status_code == 200


async def test_an_idempotency_clash_names_the_event_only_to_readers(tenant: Tenant) -> None:
    created = await ok(
        await tenant.http.post("/v1/api-keys", json={"name": "pos", "scopes": ["actions:write"]})
    )
    first = await ok(
        await tenant.http.post(
            ACTIONS, json={"userId": "u", "action": "store_visit"}, headers={"Idempotency-Key": "k"}
        ),
        202,
    )
    other = {"userId": "u2", "action": "store_visit"}
    async with client_for(tenant, created["secret"]) as pos:
        clash = await pos.post(ACTIONS, json=other, headers={"Idempotency-Key": "k"})
        items = {"actions": [{**other, "idempotencyKey": "k"}]}
        batch = await pos.post(f"{ACTIONS}/batch", json=items)
    assert clash.status_code == 409 and first["eventId"] not in clash.text
    assert clash.json()["error"]["code"] == "idempotency_conflict"
    assert batch.json()["results"][0]["error"]["code"] == "idempotency_conflict"
    assert first["eventId"] not in batch.text
    admin = await tenant.http.post(ACTIONS, json=other, headers={"Idempotency-Key": "k"})
    assert admin.status_code == 409
    assert admin.json()["error"]["details"] == {"eventId": first["eventId"]}
