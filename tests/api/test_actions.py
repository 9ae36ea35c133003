"""The ingestion route's bodies: errors that name the field, malformed and oversized bodies, timestamps and numeric user IDs."""

from __future__ import annotations

import json

import pytest

from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.support import ACTIONS, Tenant, error_of, wait_for_event

# What these tests accept must also be processed.
pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "purchase_completed"}, "userId"),
        ({"userId": "u"}, "action"),
        ({"userId": "u", "action": "has space"}, "action"),
        ({"userId": "u", "action": "x" * 65}, "action"),
        ({"userId": "u", "action": "a", "timestamp": "2025-10-06T16:45:00"}, "timestamp"),
        ({"userId": "u", "action": "a", "timestamp": "yesterday"}, "timestamp"),
        ({"userId": "u", "action": "a", "data": [1, 2]}, "data"),
        ({"userId": "u", "action": "a", "metadata": "shopify"}, "metadata"),
        ({"userId": ["u"], "action": "a"}, "userId"),
        ({"userId": "", "action": "a"}, "userId"),
        ({"userId": "u", "action": "a", "extra": 1}, "extra"),
    ],
)
async def test_bad_action_bodies_name_the_field(tenant: Tenant, body: dict, field: str) -> None:
    reply = await tenant.http.post(ACTIONS, json=body)
    assert reply.status_code == 422, reply.text
    error = error_of(reply)
    assert error["code"] == "validation_failed"
    assert field in [d["field"] for d in error["details"]]  # type: ignore[union-attr]
    assert str(error["message"]).startswith(field)


async def test_malformed_and_oversized_bodies(tenant: Tenant) -> None:
    http = tenant.http
    malformed = await http.post(
        ACTIONS, content=b'{"userId": ', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and error_of(malformed)["code"] == "malformed_json"
    not_object = await http.post(ACTIONS, json=[FLOW_ACTION])
    assert not_object.status_code == 422
    nan = await http.post(ACTIONS, content=b'{"userId":"u","action":"a","data":{"x":NaN}}')
    assert nan.status_code == 400
    big = {**FLOW_ACTION, "data": {"blob": "x" * 70_000}}
    too_large = await http.post(ACTIONS, content=json.dumps(big).encode())
    assert too_large.status_code == 413 and error_of(too_large)["code"] == "payload_too_large"


async def test_timestamps_and_numeric_user_ids_are_accepted(tenant: Tenant) -> None:
    await setup_guide(tenant, user="")
    await ok(await tenant.http.post("/v1/users", json={"id": "820982911946154508"}))
    for stamp in (
        "2025-10-06T16:45:00Z",
        "2025-10-06T16:45:00.123456Z",
        "2025-10-06T18:45:00+02:00",
    ):
        event_id = await post_action(
            tenant, {**FLOW_ACTION, "userId": 820982911946154508, "timestamp": stamp}
        )
        event = await wait_for_event(tenant, event_id)
        assert event["resolvedUserId"] == "820982911946154508"
        assert event["timestamp"].startswith("2025-10-06T16:45:00")
        assert event["status"] == "processed"


async def test_unix_time_as_a_number_is_a_timestamp(tenant: Tenant) -> None:
    reply = await tenant.http.post(
        ACTIONS, json={"userId": 42, "action": "visit", "timestamp": 1_700_000_000}
    )
    assert reply.status_code == 202, reply.text
    event = await tenant.http.get(f"{ACTIONS}/{reply.json()['eventId']}")
    assert event.json()["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert event.json()["userId"] == "42"
