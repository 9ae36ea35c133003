"""How database failures reach clients: their data is a 422, a lost lock race a retryable 503."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from src.api import errors
from tests.support import Tenant, error_of


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "status", "code"),
    [
        ("40P01", 503, "busy"),  # deadlock detected
        ("40001", 503, "busy"),  # serialization failure
        ("22021", 422, "invalid_value"),  # bad byte sequence
        ("23505", 500, "internal_error"),  # a unique violation no handler expected
    ],
)
async def test_database_errors_map_to_statuses(sqlstate: str, status: int, code: str) -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/fails")
    async def fails() -> None:
        raise DBAPIError("UPDATE …", {}, DriverError(sqlstate))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        reply = await http.get("/fails")
    assert reply.status_code == status and reply.json()["error"]["code"] == code
    assert (reply.headers.get("Retry-After") == "1") is (status == 503)


async def test_wrong_method_lists_every_method_of_the_path(tenant: Tenant) -> None:
    reply = await tenant.http.put("/v1/org/settings", json={})
    assert reply.status_code == 405 and error_of(reply)["code"] == "method_not_allowed"
    assert set(reply.headers["allow"].split(", ")) >= {"GET", "PATCH"}
