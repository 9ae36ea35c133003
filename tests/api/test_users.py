"""User look-up needs the org's switch."""

from __future__ import annotations

from tests.guide import ok
from tests.support import Tenant, error_of


async def test_user_lookup_requires_the_org_switch(tenant: Tenant) -> None:
    http = tenant.http
    await ok(await http.post("/v1/users", json={"id": "550e8400", "email": "Jane@Example.com"}))
    denied = await http.get("/api/audience/users", params={"email": "jane@example.com"})
    assert denied.status_code == 403 and "PATCH /v1/org/settings" in str(
        error_of(denied)["message"]
    )
    await ok(await http.patch("/v1/org/settings", json={"userLookup": {"email": True}}), 200)
    found = await http.get("/api/audience/users", params={"email": "JANE@example.com"})
    assert found.status_code == 200 and found.json()["userId"] == "550e8400"
    missing = await http.get("/api/audience/users", params={"email": "nobody@example.com"})
    assert missing.status_code == 404
    clash = await http.post("/v1/users", json={"id": "other", "email": "jane@example.com"})
    assert clash.status_code == 409 and "550e8400" in str(error_of(clash)["message"])
