"""Products and code pools: CRUD, stock, import (JSON and CSV), generation, expiry."""

from __future__ import annotations

from temporalio.client import Client

from tests.guide import ok, post_action
from tests.support import Tenant, wait_for_event, workflow_result


async def award_campaign(tenant: Tenant, effect: dict) -> None:  # type: ignore[type-arg]
    await ok(
        await tenant.http.post(
            "/v1/campaigns",
            json={"name": "award", "triggers": [{"type": "ticket_scanned"}], "effects": [effect]},
        )
    )


async def test_product_stock_runs_out_and_restocks(tenant: Tenant, client: Client) -> None:
    http = tenant.http
    await ok(await http.post("/v1/users", json={"id": "fan"}))
    created = await ok(
        await http.post(
            "/v1/products",
            json={"id": "prod_vip_entry", "name": "VIP entry", "type": "entry", "stock": 1},
        )
    )
    assert created["type"] == "entry" and created["stock"] == 1
    bad = await http.post("/v1/products", json={"name": "x", "type": "voucher"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "type"
    await award_campaign(
        tenant, {"type": "award_product", "config": {"productId": "prod_vip_entry"}}
    )
    first = await wait_for_event(
        tenant, await post_action(tenant, {"userId": "fan", "action": "ticket_scanned"})
    )
    second_id = await post_action(tenant, {"userId": "fan", "action": "ticket_scanned"})
    second = await wait_for_event(tenant, second_id)
    assert first["status"] == "processed"
    assert second["status"] == "failed" and second["reason"] == "out_of_stock"
    assert (await ok(await http.get("/v1/products/prod_vip_entry"), 200))["stock"] == 0
    await workflow_result(client, second_id)
    restocked = await ok(await http.patch("/v1/products/prod_vip_entry", json={"stock": 5}), 200)
    assert restocked["stock"] == 5
    await ok(await http.post(f"/api/audience/internal/actions/{second_id}/replay"), 202)
    await workflow_result(client, second_id)
    assert (await wait_for_event(tenant, second_id))["status"] == "processed"
    assert (await ok(await http.get("/v1/products/prod_vip_entry"), 200))["stock"] == 4
    listed = (await http.get("/v1/products")).json()["data"]
    assert [p["id"] for p in listed] == ["prod_vip_entry"]
    assert (await http.delete("/v1/products/prod_vip_entry")).status_code == 204
    assert (await http.get("/v1/products/prod_vip_entry")).status_code == 404


async def test_code_import_json_and_csv_with_duplicates(tenant: Tenant) -> None:
    http = tenant.http
    pool = await ok(
        await http.post("/v1/code-pools", json={"id": "p", "name": "P", "lowStockThreshold": 3})
    )
    assert pool["available"] == 0 and pool["lowStock"] is True
    first = await ok(await http.post("/v1/code-pools/p/codes", json={"codes": ["A1", "A2", "A2"]}))
    assert first["imported"] == 2 and first["duplicateCount"] == 1 and first["duplicates"] == ["A2"]
    csv_body = "code\nA2\nB1\nB2\nB3\n"
    second = await ok(
        await http.post(
            "/v1/code-pools/p/codes",
            content=csv_body,
            headers={"Content-Type": "text/csv; header=present"},
        )
    )
    assert second["imported"] == 3 and second["duplicates"] == ["A2"]
    assert second["pool"]["available"] == 5 and second["pool"]["lowStock"] is False
    big = {"codes": [f"X{i:06d}" for i in range(100_000)]}
    bulk = await ok(await http.post("/v1/code-pools/p/codes", json=big))
    assert bulk["imported"] == 100_000
    too_many = await http.post("/v1/code-pools/p/codes", json={"codes": ["y"] * 100_001})
    assert too_many.status_code == 422


async def test_generate_unique_codes(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/code-pools", json={"id": "g", "name": "G"}))
    made = await ok(
        await tenant.http.post(
            "/v1/code-pools/g/generate", json={"count": 500, "length": 8, "prefix": "SUMMER-"}
        )
    )
    assert made["generated"] == 500 and made["pool"]["available"] == 500
    for bad in (
        {"count": 5, "length": 5},
        {"count": 5, "length": 33},
        {"count": 0},
        {"count": 100_000, "length": 6, "prefix": "a b"},
    ):
        assert (await tenant.http.post("/v1/code-pools/g/generate", json=bad)).status_code == 422
    pools = (await tenant.http.get("/v1/code-pools")).json()["data"]
    assert [(p["id"], p["available"]) for p in pools] == [("g", 500)]


async def test_expired_pool_fails_allocation(tenant: Tenant) -> None:
    await ok(await tenant.http.post("/v1/users", json={"id": "late"}))
    await ok(
        await tenant.http.post(
            "/v1/code-pools", json={"id": "old", "name": "Old", "expiresAt": "2020-01-01T00:00:00Z"}
        )
    )
    await ok(await tenant.http.post("/v1/code-pools/old/codes", json={"codes": ["OLD-1"]}))
    await award_campaign(tenant, {"type": "allocate_code", "config": {"poolId": "old"}})
    event = await wait_for_event(
        tenant, await post_action(tenant, {"userId": "late", "action": "ticket_scanned"})
    )
    assert event["status"] == "failed" and event["reason"] == "pool_expired"
    renewed = await ok(await tenant.http.patch("/v1/code-pools/old", json={"expiresAt": None}), 200)
    assert renewed["expiresAt"] is None
    event = await wait_for_event(
        tenant, await post_action(tenant, {"userId": "late", "action": "ticket_scanned"})
    )
    assert event["status"] == "processed"
    codes = (await tenant.http.get("/v1/users/late")).json()["codes"]
    assert codes == ["OLD-1"]
    assert (await tenant.http.delete("/v1/code-pools/old")).status_code == 204
