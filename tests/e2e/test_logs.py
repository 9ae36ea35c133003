"""Structured logs over a full guide flow: every line JSON, each request's line naming its
route template, request and org, activity lines naming the event, and no secret, code, email
or phone anywhere."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from src.logs import formatter
from tests.guide import FLOW_ACTION, ok, setup_guide
from tests.support import ACTIONS, Tenant, wait_for_event

EMAIL = "dana.logs@example.com"
PHONE = "+447911123456"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of this process (API, worker, relay, libraries) as JSON, at INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    root, client = logging.getLogger(), logging.getLogger("httpx")  # the test's own client
    levels = root.level, client.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    client.setLevel(logging.WARNING)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        client.setLevel(levels[1])


async def test_logs_of_a_guide_flow_are_json_and_reveal_nothing(
    tenant: Tenant, captured: io.StringIO
) -> None:
    await setup_guide(tenant)
    lookup = {"userLookup": {"email": True, "phone": True}}
    await ok(await tenant.http.patch("/v1/org/settings", json=lookup), 200)
    await ok(
        await tenant.http.post("/v1/users", json={"id": "dana", "email": EMAIL, "phone": PHONE})
    )
    posted = await tenant.http.post(
        ACTIONS, json={**FLOW_ACTION, "userId": EMAIL}, headers={"X-Request-ID": "req-guide-1"}
    )
    assert posted.headers["X-Request-ID"] == "req-guide-1"
    event_id = (await ok(posted, 202))["eventId"]
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"
    user = (await tenant.http.get("/v1/users/dana")).json()
    [code] = user["codes"]
    # Personal data in a path and a query string, and a refused secret.
    assert (await tenant.http.get(f"/v1/users/{PHONE}")).status_code == 404
    lookup = await tenant.http.get("/api/audience/users", params={"email": EMAIL})
    assert lookup.status_code == 200
    stranger = await tenant.http.get(
        "/v1/users/dana", headers={"Authorization": "Bearer lsk_nobody_0123456789abcdef"}
    )
    assert stranger.status_code == 401

    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    for secret in (tenant.secret, code, EMAIL, PHONE, "lsk_nobody_0123456789abcdef"):
        assert secret not in text, secret

    requests = [line for line in lines if line.get("logger") == "loyalty.access"]
    accepted = [r for r in requests if r.get("requestId") == "req-guide-1"]
    assert accepted == [
        {
            **accepted[0],
            "event": "request",
            "method": "POST",
            "route": "/api/audience/internal/actions",
            "status": 202,
            "orgId": tenant.org_id,
        }
    ]
    assert {r["route"] for r in requests} >= {"/v1/users/{user_id}", "/api/audience/users"}
    assert all(r["requestId"] and "time" in r and r["level"] == "info" for r in requests)
    activity = [line for line in lines if line.get("eventId") == event_id]
    # A line per outcome: the plan's own is left out when its effects tell what happened.
    assert sorted(line["event"] for line in activity) == [
        "add_points granted",
        "allocate_code granted",
        "award_product granted",
    ]
    assert all(
        line["orgId"] == tenant.org_id and line["workflowId"] == event_id for line in activity
    )
