"""Ledger pages."""

from __future__ import annotations

import pytest

from tests.guide import FLOW_ACTION, post_action, setup_guide
from tests.support import Tenant, wait_for_event

# What these tests accept must also be processed.
pytestmark = pytest.mark.usefixtures("worker")


async def test_transactions_paginate(tenant: Tenant) -> None:
    await setup_guide(tenant)
    ids = [await post_action(tenant, FLOW_ACTION) for _ in range(3)]
    for event_id in ids:
        await wait_for_event(tenant, event_id)
    seen, cursor = [], None
    while True:
        params = {"userId": "user_123", "limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await tenant.http.get("/v1/transactions", params=params)).json()
        seen += [t["id"] for t in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 9
    bad = await tenant.http.get("/v1/transactions", params={"cursor": "zzz"})
    assert bad.status_code == 422
