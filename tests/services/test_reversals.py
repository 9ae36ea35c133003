"""Reversals (refunds): everything an event granted is taken back once, partial refunds never
take back more than was granted, faults and concurrent requests change nothing of that."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from src.services import reversals as reversals_service
from src.store import keys
from src.store.tables import Code, Reversal
from tests.guide import FLOW_ACTION, ok, post_action, setup_guide
from tests.services.test_limits import limited_campaign
from tests.support import (
    ACTIONS,
    Faults,
    Tenant,
    error_of,
    ledger_consistent,
    wait_for_event,
    workflow_result,
)


async def reverse(
    tenant: Tenant, event_id: str, body: dict[str, Any] | None = None, key: str | None = None
) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    reply = await tenant.http.post(f"{ACTIONS}/{event_id}/reverse", json=body, headers=headers)
    return await ok(reply, 202)


async def completed(tenant: Tenant, event_id: str, reversal_id: str) -> dict[str, Any]:
    """The reversal as the event shows it, once its run applied it."""
    for _ in range(300):
        event = (await tenant.http.get(f"{ACTIONS}/{event_id}")).json()
        found = next(r for r in event["reversals"] if r["id"] == reversal_id)
        if found["status"] != "queued":
            return dict(found)
        await asyncio.sleep(0.1)
    raise AssertionError(f"reversal {reversal_id} still queued")


async def holdings(tenant: Tenant) -> dict[str, Any]:
    return dict((await tenant.http.get("/v1/users/user_123")).json())


async def event_rows(tenant: Tenant, event_id: str) -> list[dict[str, Any]]:
    reply = await tenant.http.get("/v1/transactions", params={"eventId": event_id})
    return list(reply.json()["data"])


async def processed_flow(tenant: Tenant) -> str:
    await setup_guide(tenant)
    event_id = await post_action(tenant, FLOW_ACTION)  # data.amount 150: 500 points, badge, code
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"
    return event_id


async def test_a_full_reversal_takes_everything_back_once(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    event_id = await processed_flow(tenant)
    code = (await holdings(tenant))["codes"][0]
    first = await reverse(tenant, event_id)
    assert first["workflowId"] == f"{event_id}:reverse:{first['id'][4:]}"
    done = await completed(tenant, event_id, first["id"])
    assert done["status"] == "completed"
    assert done["takenBack"] == {
        "entries": 3,
        "points": {"points": 500},
        "products": 1,
        "codes": 1,
        "full": True,
        "productIds": ["prod_vip_badge"],
        "revokedCodes": [code],
    }
    async with engine.begin() as conn:  # a key that may not read users sees no code
        _, secret = await keys.create(conn, tenant.org_id, "pos", ["actions:write"])
    narrow = {"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": tenant.org_id}
    shown = (await tenant.http.get(f"{ACTIONS}/{event_id}", headers=narrow)).json()
    assert shown["reversals"][0]["takenBack"]["revokedCodes"] is None
    assert shown["reversals"][0]["takenBack"]["productIds"] is None
    assert shown["reversals"][0]["takenBack"]["products"] == 1
    user = await holdings(tenant)
    assert user["balances"] == {"points": 0} and user["products"] == [] and user["codes"] == []
    rows = await event_rows(tenant, event_id)
    grants = {r["id"]: r for r in rows if r["reverses"] is None}
    taken = [r for r in rows if r["reverses"] is not None]
    assert len(grants) == 3 and len(taken) == 3
    for row in taken:  # each linked to the grant it reverses, the exact opposite amount
        assert row["reversalId"] == first["id"] and row["reason"] == "reversal"
        assert row["amount"] == -grants[row["reverses"]]["amount"]
    assert {r["code"] for r in taken if r["type"] == "code"} == {code}

    again = await reverse(tenant, event_id)  # asked again: the same reversal, nothing more
    assert again["id"] == first["id"] and again["status"] == "completed"
    assert len(await event_rows(tenant, event_id)) == 6
    replay = await tenant.http.post(f"{ACTIONS}/{event_id}/replay")
    assert replay.status_code == 409 and "reversed" in error_of(replay)["message"]
    partial = await tenant.http.post(f"{ACTIONS}/{event_id}/reverse", json={"amount": 10})
    assert partial.status_code == 409
    await ledger_consistent(engine, tenant.org_id)


async def test_a_reversed_code_is_revoked_in_its_own_pool_only(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    event_id = await processed_flow(tenant)
    await ok(await tenant.http.post("/v1/code-pools", json={"id": "pool_other", "name": "Other"}))
    async with engine.begin() as conn:  # the same string, given to the same user by another pool
        mine = (
            await conn.execute(
                select(Code).where(Code.org_id == tenant.org_id, Code.user_id.is_not(None))
            )
        ).one()
        await conn.execute(
            insert(Code).values(
                org_id=tenant.org_id,
                pool_id="pool_other",
                code=mine.code,
                user_id=mine.user_id,
                allocated_at=func.now(),
            )
        )
    done = await completed(tenant, event_id, (await reverse(tenant, event_id))["id"])
    assert done["takenBack"]["codes"] == 1
    async with engine.connect() as conn:
        revoked = dict(
            (
                await conn.execute(
                    select(Code.pool_id, Code.revoked_at.is_not(None)).where(
                        Code.org_id == tenant.org_id, Code.code == mine.code
                    )
                )
            ).all()
        )
    assert revoked == {mine.pool_id: True, "pool_other": False}


async def test_partial_reversals_never_take_back_more_than_was_granted(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    event_id = await processed_flow(tenant)
    a = await reverse(tenant, event_id, {"amount": 60}, key="refund-a")  # 40 % of 150
    assert (await completed(tenant, event_id, a["id"]))["takenBack"]["points"] == {"points": 200}
    same = await reverse(tenant, event_id, {"amount": 60}, key="refund-a")
    assert same["id"] == a["id"]
    clash = await tenant.http.post(
        f"{ACTIONS}/{event_id}/reverse",
        json={"amount": 61},
        headers={"Idempotency-Key": "refund-a"},
    )
    assert clash.status_code == 409
    longest = "b" * 255  # the longest Idempotency-Key there is: stored with its prefix
    b = await reverse(tenant, event_id, {"amount": 60}, key=longest)
    assert (await completed(tenant, event_id, b["id"]))["takenBack"]["full"] is False
    assert (await reverse(tenant, event_id, {"amount": 60}, key=longest))["id"] == b["id"]
    user = await holdings(tenant)
    assert user["balances"] == {"points": 100}  # the badge and the code stay with part refunds
    assert len(user["products"]) == 1 and len(user["codes"]) == 1
    too_much = await tenant.http.post(
        f"{ACTIONS}/{event_id}/reverse", json={"amount": 31}, headers={"Idempotency-Key": "c"}
    )
    assert too_much.status_code == 422 and error_of(too_much)["details"][0]["field"] == "amount"
    last = await reverse(tenant, event_id, {"amount": 30}, key="refund-c")  # adds up to 150
    done = await completed(tenant, event_id, last["id"])
    assert done["takenBack"] == {
        "entries": 3,
        "points": {"points": 100},
        "products": 1,
        "codes": 1,
        "full": True,
        "productIds": ["prod_vip_badge"],
        "revokedCodes": user["codes"],
    }
    user = await holdings(tenant)
    assert user["balances"] == {"points": 0} and user["products"] == [] and user["codes"] == []
    await ledger_consistent(engine, tenant.org_id)


async def test_a_partial_reversal_needs_the_actions_amount(tenant: Tenant) -> None:
    await setup_guide(tenant)
    event_id = await post_action(tenant, {"userId": "user_123", "action": "store_visit"})
    await wait_for_event(tenant, event_id)
    reply = await tenant.http.post(f"{ACTIONS}/{event_id}/reverse", json={"amount": 5})
    assert reply.status_code == 422 and "data.amount" in error_of(reply)["message"]
    missing = await tenant.http.post(f"{ACTIONS}/evt_nope/reverse")
    assert missing.status_code == 404


async def test_a_reversal_failing_after_its_commit_takes_back_once(
    tenant: Tenant, faults: Faults, engine: AsyncEngine, client: Client
) -> None:
    event_id = await processed_flow(tenant)
    faults.fail_reversals_after_commit.add(tenant.org_id)
    try:
        first = await reverse(tenant, event_id)
        result = await workflow_result(client, first["workflowId"])  # after the retry
        done = await completed(tenant, event_id, first["id"])
    finally:
        faults.fail_reversals_after_commit.discard(tenant.org_id)
    assert faults.attempts[first["id"]] == 2  # committed, failed, retried
    assert done["takenBack"]["entries"] == 3 and result["entries"] == 3
    assert len(await event_rows(tenant, event_id)) == 6
    assert (await holdings(tenant))["balances"] == {"points": 0}
    await ledger_consistent(engine, tenant.org_id)


async def test_the_same_reversal_posted_concurrently_is_one(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    event_id = await processed_flow(tenant)
    replies = await asyncio.gather(*(reverse(tenant, event_id) for _ in range(10)))
    assert len({r["id"] for r in replies}) == 1
    await completed(tenant, event_id, replies[0]["id"])
    keyed = await asyncio.gather(
        *(tenant.http.post(f"{ACTIONS}/{event_id}/reverse", json={"amount": 1}) for _ in range(5))
    )
    assert {r.status_code for r in keyed} == {409}  # reversed in full already
    assert len(await event_rows(tenant, event_id)) == 6
    await ledger_consistent(engine, tenant.org_id)


async def test_a_reversal_gives_the_firing_its_limit_back(tenant: Tenant) -> None:
    await limited_campaign(tenant, {"maxPerUser": 1})
    await ok(await tenant.http.post("/v1/users", json={"id": "u"}))
    checkin = {"userId": "u", "action": "checkin"}
    first = await post_action(tenant, checkin)
    assert (await wait_for_event(tenant, first))["effects"][0]["status"] == "granted"
    refused = await wait_for_event(tenant, await post_action(tenant, checkin))
    assert refused["limitedCampaigns"][0]["reason"] == "limit_reached:maxPerUser"
    reversal = await reverse(tenant, first)
    await completed(tenant, first, reversal["id"])
    again = await wait_for_event(tenant, await post_action(tenant, checkin))
    assert again["effects"][0]["status"] == "granted"  # the reversed firing no longer counts


REFUNDS = {
    "purchase_refunded": {
        "reverses": "purchase_completed",
        "match": "data.orderId",
        "amount": "data.amount",
    },
    "order_cancelled": {"reverses": "purchase_completed", "match": "data.originalEventId"},
}


async def test_refund_actions_the_org_maps_reverse_their_purchase(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    await setup_guide(tenant)
    await ok(await tenant.http.patch("/v1/org/settings", json={"reversalActions": REFUNDS}), 200)
    order = {**FLOW_ACTION, "data": {"amount": 150, "currency": "USD", "orderId": "ORD-1"}}
    purchase = await post_action(tenant, order)
    assert (await wait_for_event(tenant, purchase))["status"] == "processed"
    refund = {"userId": "user_123", "action": "purchase_refunded"}
    first = await post_action(tenant, {**refund, "data": {"orderId": "ORD-1", "amount": 60}})
    assert (await wait_for_event(tenant, first))["status"] == "processed"
    (requested,) = (await tenant.http.get(f"{ACTIONS}/{purchase}")).json()["reversals"]
    assert requested["reason"] == f"action {first}"
    done = await completed(tenant, purchase, requested["id"])
    assert done["takenBack"]["points"] == {"points": 200}  # 60 of 150

    lost = await post_action(tenant, {**refund, "data": {"orderId": "ORD-404", "amount": 1}})
    skipped = await wait_for_event(tenant, lost)
    assert skipped["status"] == "skipped"
    assert skipped["reason"] == "reversal_refused:not_found"

    cancel = {"userId": "user_123", "action": "order_cancelled"}
    rest = await post_action(tenant, {**cancel, "data": {"originalEventId": purchase}})
    assert (await wait_for_event(tenant, rest))["status"] == "processed"
    reversals = (await tenant.http.get(f"{ACTIONS}/{purchase}")).json()["reversals"]
    assert len(reversals) == 2
    await completed(tenant, purchase, reversals[1]["id"])
    user = await holdings(tenant)
    assert user["balances"] == {"points": 0} and user["codes"] == []
    await ledger_consistent(engine, tenant.org_id)


async def test_refund_mappings_are_checked(tenant: Tenant) -> None:
    for bad in (
        {"purchase_refunded": {"reverses": "purchase_refunded", "match": "data.orderId"}},
        {"bad name!": {"reverses": "purchase_completed", "match": "data.orderId"}},
        {"purchase_refunded": {"reverses": "purchase_completed", "match": "data.sku"}},
        {f"refund_{i}": {"reverses": "p", "match": "data.orderId"} for i in range(21)},
        {  # two refund types naming each other would each wait for the other
            "a": {"reverses": "b", "match": "data.orderId"},
            "b": {"reverses": "a", "match": "data.orderId"},
        },
    ):
        reply = await tenant.http.patch("/v1/org/settings", json={"reversalActions": bad})
        assert reply.status_code == 422, bad
    shown = await ok(
        await tenant.http.patch("/v1/org/settings", json={"reversalActions": REFUNDS}), 200
    )
    assert shown["reversalActions"]["order_cancelled"]["amount"] is None


async def mapped_purchase(tenant: Tenant, order_id: str = "ORD-1") -> str:
    await setup_guide(tenant)
    await ok(await tenant.http.patch("/v1/org/settings", json={"reversalActions": REFUNDS}), 200)
    order = {**FLOW_ACTION, "data": {"amount": 150, "currency": "USD", "orderId": order_id}}
    purchase = await post_action(tenant, order)
    assert (await wait_for_event(tenant, purchase))["status"] == "processed"
    return purchase


async def test_a_refund_action_reverses_only_its_own_users_purchase(tenant: Tenant) -> None:
    purchase = await mapped_purchase(tenant)
    await ok(await tenant.http.post("/v1/users", json={"id": "someone_else"}))
    refund = {"userId": "someone_else", "action": "purchase_refunded", "data": {"orderId": "ORD-1"}}
    skipped = await wait_for_event(tenant, await post_action(tenant, refund))
    assert (skipped["status"], skipped["reason"]) == ("skipped", "reversal_refused:user_mismatch")
    unknown = await wait_for_event(
        tenant, await post_action(tenant, {**refund, "userId": "nobody"})
    )
    assert unknown["reason"] == "reversal_refused:user_mismatch"
    assert (await tenant.http.get(f"{ACTIONS}/{purchase}")).json()["reversals"] == []
    assert (await holdings(tenant))["balances"] == {"points": 500}


async def test_a_replayed_refund_tries_its_failed_reversal_again(
    tenant: Tenant, faults: Faults, engine: AsyncEngine
) -> None:
    purchase = await mapped_purchase(tenant)
    refund = {"userId": "user_123", "action": "order_cancelled"}
    faults.fail_reversals.add(tenant.org_id)
    try:
        event_id = await post_action(tenant, {**refund, "data": {"originalEventId": purchase}})
        assert (await wait_for_event(tenant, event_id))["status"] == "processed"
        (reversal,) = (await tenant.http.get(f"{ACTIONS}/{purchase}")).json()["reversals"]
        assert (await completed(tenant, purchase, reversal["id"]))["status"] == "failed"
    finally:
        faults.fail_reversals.discard(tenant.org_id)
    await ok(await tenant.http.post(f"{ACTIONS}/{event_id}/replay"), 202)
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"
    done = await completed(tenant, purchase, reversal["id"])
    assert (done["status"], done["takenBack"]["full"]) == ("completed", True)
    assert (await holdings(tenant))["balances"] == {"points": 0}
    await ledger_consistent(engine, tenant.org_id)


async def test_failed_reversals_do_not_count_and_a_full_one_is_always_taken(
    tenant: Tenant, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reversals_service, "MAX_PER_EVENT", 2)
    event_id = await processed_flow(tenant)
    async with engine.begin() as conn:  # one that failed (and took nothing)
        await conn.execute(
            insert(Reversal).values(
                id="rev_failed",
                org_id=tenant.org_id,
                event_id=event_id,
                key="key:failed",
                amount=10,
                status="failed",
                result={"error": "RuntimeError"},
            )
        )
    for key in ("a", "b"):
        done = await reverse(tenant, event_id, {"amount": 10}, key=key)
        await completed(tenant, event_id, done["id"])
    third = await tenant.http.post(f"{ACTIONS}/{event_id}/reverse", json={"amount": 10})
    assert third.status_code == 409 and error_of(third)["code"] == "too_many_reversals"
    full = await reverse(tenant, event_id)
    assert (await completed(tenant, event_id, full["id"]))["takenBack"]["full"] is True
    assert (await holdings(tenant))["balances"] == {"points": 0}
    await ledger_consistent(engine, tenant.org_id)


async def test_a_key_reverses_only_what_it_or_its_rotation_posted(tenant: Tenant) -> None:
    await setup_guide(tenant)

    async def key(name: str, scopes: list[str]) -> httpx.AsyncClient:
        made = await ok(
            await tenant.http.post("/v1/api-keys", json={"name": name, "scopes": scopes})
        )
        headers = {"Authorization": f"Bearer {made['secret']}", "X-Monterosa-Org-ID": tenant.org_id}
        return httpx.AsyncClient(base_url=str(tenant.http.base_url), headers=headers)

    pos = await key("pos", ["actions:write"])
    other = await key("other", ["actions:write"])
    refunds = await key("refunds", ["actions:write", "actions:reverse"])
    posted = await ok(await pos.post(ACTIONS, json=FLOW_ACTION), 202)
    event_id = posted["eventId"]
    assert (await wait_for_event(tenant, event_id))["status"] == "processed"
    refused = await other.post(f"{ACTIONS}/{event_id}/reverse", json={"amount": 10})
    assert refused.status_code == 404 and error_of(refused)["code"] == "not_found"

    pos_id = (await tenant.http.get("/v1/api-keys")).json()["data"]
    pos_id = next(k["id"] for k in pos_id if k["name"] == "pos")
    rotated = await ok(
        await tenant.http.post(f"/v1/api-keys/{pos_id}/rotate", json={"graceSeconds": 60})
    )
    successor = httpx.AsyncClient(
        base_url=str(tenant.http.base_url),
        headers={
            "Authorization": f"Bearer {rotated['secret']}",
            "X-Monterosa-Org-ID": tenant.org_id,
        },
    )
    body = {"amount": 10, "reason": "damaged in transit"}
    mine = await successor.post(f"{ACTIONS}/{event_id}/reverse", json=body)
    assert mine.status_code == 202, mine.text
    anyone = await refunds.post(f"{ACTIONS}/{event_id}/reverse", json={"amount": 10})
    assert anyone.status_code == 202, anyone.text

    shown = (await pos.get(f"{ACTIONS}/{event_id}")).json()["reversals"]
    assert [r["reason"] for r in shown] == [None, None]  # no actions:read
    read = (await tenant.http.get(f"{ACTIONS}/{event_id}")).json()["reversals"]
    assert {r["reason"] for r in read} == {"damaged in transit", None}
    for client in (pos, other, refunds, successor):
        await client.aclose()
