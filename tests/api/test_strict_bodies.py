"""What the published contract promises about bodies and methods, beyond what FastAPI checks."""

from __future__ import annotations

import pytest

from tests.support import Tenant

ACTIONS = "/api/audience/internal/actions"


def error_of(reply: object) -> dict[str, object]:
    return reply.json()["error"]  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/products", {"name": "Badge", "stock": True}, "stock"),
        ("/v1/code-pools", {"name": "Codes", "lowStockThreshold": False}, "lowStockThreshold"),
        ("/v1/api-keys/key_x/rotate", {"graceSeconds": True}, "graceSeconds"),
        (ACTIONS, {"userId": "u", "action": "a", "timestamp": "1700000000"}, "timestamp"),
    ],
)
async def test_no_booleans_for_integers_nor_numbers_in_text(
    tenant: Tenant, path: str, body: dict[str, object], field: str
) -> None:
    reply = await tenant.http.post(path, json=body)
    assert reply.status_code == 422, reply.text
    assert error_of(reply)["details"][0]["field"] == field  # type: ignore[index]


async def test_unix_time_as_a_number_is_a_timestamp(tenant: Tenant) -> None:
    reply = await tenant.http.post(
        ACTIONS, json={"userId": 42, "action": "visit", "timestamp": 1_700_000_000}
    )
    assert reply.status_code == 202, reply.text
    event = await tenant.http.get(f"{ACTIONS}/{reply.json()['eventId']}")
    assert event.json()["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert event.json()["userId"] == "42"


async def test_a_patch_may_leave_a_name_out_but_not_null_it(tenant: Tenant) -> None:
    created = await tenant.http.post("/v1/products", json={"id": "p1", "name": "Badge"})
    assert created.status_code == 201, created.text
    nulled = await tenant.http.patch("/v1/products/p1", json={"name": None, "type": None})
    assert nulled.status_code == 422
    assert {d["field"] for d in error_of(nulled)["details"]} == {"name", "type"}  # type: ignore[attr-defined]
    restocked = await tenant.http.patch("/v1/products/p1", json={"stock": 5})
    assert restocked.status_code == 200 and restocked.json()["name"] == "Badge"
    unlimited = await tenant.http.patch("/v1/products/p1", json={"stock": None})
    assert unlimited.status_code == 200 and unlimited.json()["stock"] is None


async def test_a_key_cannot_revoke_itself(tenant: Tenant) -> None:
    reply = await tenant.http.delete(f"/v1/api-keys/{tenant.key_id}")
    assert reply.status_code == 409 and error_of(reply)["code"] == "key_in_use"
    assert (await tenant.http.get("/v1/api-keys")).status_code == 200


async def test_wrong_method_lists_every_method_of_the_path(tenant: Tenant) -> None:
    reply = await tenant.http.put("/v1/org/settings", json={})
    assert reply.status_code == 405 and error_of(reply)["code"] == "method_not_allowed"
    assert set(reply.headers["allow"].split(", ")) >= {"GET", "PATCH"}
