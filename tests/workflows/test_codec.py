"""Temporal holds no readable discount code or personal data: payloads are sealed, search
attributes and summaries name no person, and operators read them through the codec endpoint."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from src.config import Settings
from src.domain.sealing import new_key, parse_keys
from src.workflows.codec import ENCODING, EncryptionCodec
from src.workflows.codec_server import codec_app
from tests.guide import ok, post_action, setup_guide
from tests.support import Tenant, wait_for_event, workflow_result


async def test_seal_open_and_rotate() -> None:
    old, new = new_key("old"), new_key("new")
    before = EncryptionCodec(parse_keys(old))
    after = EncryptionCodec(parse_keys(f"{new},{old}"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"code": "SAVE-1"}')
    sealed = (await before.encode([plain]))[0]
    assert sealed.metadata["encoding"] == ENCODING and b"SAVE-1" not in sealed.data
    assert (await after.decode([sealed]))[0] == plain  # the old key still opens
    resealed = (await after.encode([plain]))[0]
    assert resealed.metadata["encryption-key-id"] == b"new"
    with pytest.raises(ValueError, match="unknown key 'new'"):
        await before.decode([resealed])
    flipped = bytes([sealed.data[-1] ^ 1])  # always a change (a fixed byte may be the same)
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + flipped)
    with pytest.raises(ValueError, match="does not open"):
        await before.decode([tampered])
    assert (await before.decode([plain]))[0] == plain  # recorded before sealing: as it is
    for bad in ("k:notbase64!", "k:" + base64.b64encode(b"short").decode(), ""):
        with pytest.raises(ValueError):
            parse_keys(bad)


def payloads_in(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every payload of a history (as JSON) with the path to it."""
    if isinstance(node, list):
        return [found for item in node for found in payloads_in(item, path)]
    if not isinstance(node, dict):
        return []
    if "encoding" in node.get("metadata", {}):
        return [(path, node)]
    return [found for key, value in node.items() for found in payloads_in(value, (*path, key))]


async def test_history_holds_no_code_or_email(
    tenant: Tenant, client: Client, settings: Settings
) -> None:
    await setup_guide(tenant, codes=1, user="")
    email = "shopper@example.com"
    await ok(await tenant.http.post("/v1/users", json={"id": "u-codec", "email": email}))
    await ok(await tenant.http.patch("/v1/org/settings", json={"userLookup": {"email": True}}), 200)
    event_id = await post_action(
        tenant, {"userId": email, "action": "purchase_completed", "data": {"amount": 150}}
    )
    await workflow_result(client, event_id)
    event = await wait_for_event(tenant, event_id)
    assert event["status"] == "processed"
    code = (await tenant.http.get("/v1/users/u-codec")).json()["codes"][0]

    history = await client.get_workflow_handle(event_id).fetch_history()
    raw = history.to_json()
    for secret in (code, email, base64.b64encode(code.encode()).decode()):
        assert secret not in raw
    # The workflow's input, every step's result, its own result and the summaries are sealed.
    # (Search attributes bypass codecs by design, and the SDK's markers carry only activity
    # IDs and timings: neither names a person.)
    ours = [
        payload
        for path, payload in payloads_in(json.loads(raw))
        if {"input", "result", "userMetadata"} & set(path)
    ]
    assert len(ours) >= 7  # input, plan, 3 effects, result, summaries
    encodings = {base64.b64decode(p["metadata"]["encoding"]) for p in ours}
    assert encodings == {ENCODING}
    described = await client.get_workflow_handle(event_id).describe()
    assert described.typed_search_attributes  # LoyaltyUserId is the platform ID, not the email
    assert email not in str(described.typed_search_attributes)

    # A failure's message and stack trace may quote what failed: sealed as well.
    failed = await post_action(
        tenant, {"userId": email, "action": "purchase_completed", "data": {"amount": 150}}
    )
    await workflow_result(client, failed)
    assert (await wait_for_event(tenant, failed))["reason"] == "pool_exhausted"
    raw_failure = (await client.get_workflow_handle(failed).fetch_history()).to_json()
    assert "Encoded failure" in raw_failure and "allocate_code failed" not in raw_failure

    open_codec = settings.model_copy(update={"codec_allow_unauthenticated": True})
    codec = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=codec_app(open_codec)), base_url="http://localhost"
    )
    async with codec:
        reply = await codec.post("/decode", json={"payloads": ours})
    assert reply.status_code == 200
    opened = b" ".join(base64.b64decode(p.get("data", "")) for p in reply.json()["payloads"])
    assert code.encode() in opened and email.encode() in opened


async def test_codec_endpoint_guard_and_cors(settings: Settings) -> None:
    guarded = settings.model_copy(update={"codec_token": "operator-secret"})
    transport = httpx.ASGITransport(app=codec_app(guarded))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8089") as codec:
        body = {"payloads": []}
        assert (await codec.post("/decode", json=body)).status_code == 401
        key = {"Authorization": "Bearer operator-secret"}
        assert (await codec.post("/decode", json=body, headers=key)).status_code == 200
        assert (await codec.post("/decode", content=b"{", headers=key)).status_code == 400
        # Sealing a payload of one's choosing is not offered.
        assert (await codec.post("/encode", json=body, headers=key)).status_code == 404
        # A page on another name that rebinds to the endpoint reaches nothing.
        rebound = {**key, "Host": "attacker.example:8089"}
        assert (await codec.post("/decode", json=body, headers=rebound)).status_code == 400

        async def endless() -> AsyncIterator[bytes]:  # no Content-Length: capped as it is read
            while True:
                yield b" " * 65536

        huge = await codec.post("/decode", content=endless(), headers=key)
        assert huge.status_code == 413
        preflight = await codec.options(
            "/decode",
            headers={
                "Origin": "http://localhost:8233",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
        stranger = await codec.options(
            "/decode",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in stranger.headers


def test_the_codec_endpoint_needs_a_token_or_an_explicit_choice(settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="CODEC_TOKEN is not set"):
        codec_app(settings)
    codec_app(settings.model_copy(update={"codec_allow_unauthenticated": True}))
    codec_app(settings.model_copy(update={"codec_token": "operator-secret"}))
