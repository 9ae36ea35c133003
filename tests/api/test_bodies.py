"""Every body: integers are not true or false, and a timestamp is not a number in text."""

from __future__ import annotations

import pytest

from tests.support import ACTIONS, Tenant, error_of


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
    assert error_of(reply)["details"][0]["field"] == field
