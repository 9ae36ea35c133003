"""Who may call: a missing or wrong secret is a 401, a key of another org or without the scope a 403."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.guide import FLOW_ACTION
from tests.support import ACTIONS, Tenant, error_of, make_tenant


async def test_auth_401_vs_403(tenant: Tenant, engine: AsyncEngine, base_url: str) -> None:
    http = tenant.http
    missing = await http.post(ACTIONS, json=FLOW_ACTION, headers={"Authorization": ""})
    assert missing.status_code == 401 and error_of(missing)["code"] == "unauthorized"
    wrong = await http.post(ACTIONS, json=FLOW_ACTION, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    no_org = await http.post(ACTIONS, json=FLOW_ACTION, headers={"X-Monterosa-Org-ID": ""})
    assert no_org.status_code == 401
    other_org = await http.post(
        ACTIONS,
        json=FLOW_ACTION,
        headers={"X-Monterosa-Org-ID": "00000000-0000-0000-0000-000000000000"},
    )
    assert other_org.status_code == 403

    reader = await make_tenant(engine, base_url, scopes=["users:read"])
    try:
        denied = await reader.http.post(ACTIONS, json=FLOW_ACTION)
        assert denied.status_code == 403 and "actions:write" in str(error_of(denied)["message"])
    finally:
        await reader.http.aclose()
