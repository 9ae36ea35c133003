"""The probes."""

from __future__ import annotations

from tests.support import Tenant


async def test_health_endpoints(tenant: Tenant) -> None:
    assert (await tenant.http.get("/healthz")).json() == {"status": "ok"}
    ready = await tenant.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": "ok",
        "temporal": "ok",
    }
