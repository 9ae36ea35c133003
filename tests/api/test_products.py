"""Products: a patch may leave a field out, but not null it."""

from __future__ import annotations

from tests.support import Tenant, error_of


async def test_a_patch_may_leave_a_name_out_but_not_null_it(tenant: Tenant) -> None:
    created = await tenant.http.post("/v1/products", json={"id": "p1", "name": "Badge"})
    assert created.status_code == 201, created.text
    nulled = await tenant.http.patch("/v1/products/p1", json={"name": None, "type": None})
    assert nulled.status_code == 422
    assert {d["field"] for d in error_of(nulled)["details"]} == {"name", "type"}
    restocked = await tenant.http.patch("/v1/products/p1", json={"stock": 5})
    assert restocked.status_code == 200 and restocked.json()["name"] == "Badge"
    unlimited = await tenant.http.patch("/v1/products/p1", json={"stock": None})
    assert unlimited.status_code == 200 and unlimited.json()["stock"] is None
