"""Granting reports the event's settlement exactly when it changes the event, so the
settlement metric counts each event once however often an effect's attempt is retried."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from src.domain.effects import ActionPlan, EffectRequest
from src.domain.events import Settled
from src.services import grants
from src.store.tables import Event
from tests.guide import FLOW_ACTION, post_action, setup_guide
from tests.support import Tenant, workflow_result


async def test_a_retried_effect_settles_nothing_again(
    tenant: Tenant, engine: AsyncEngine, client: Client
) -> None:
    await setup_guide(tenant)
    event_id = await post_action(tenant, FLOW_ACTION)
    assert await workflow_result(client, event_id) == "processed"
    async with engine.connect() as conn:
        plan = ActionPlan.model_validate(
            await conn.scalar(select(Event.plan).where(Event.id == event_id))
        )
    request = EffectRequest(
        org_id=tenant.org_id,
        event_id=event_id,
        user_id=plan.user_id or "user_123",
        effect=plan.effects[-1],
    )
    again = await grants.apply(engine, request)  # an attempt retried after its commit
    assert again.result.status == "granted" and again.settled is None

    async with engine.begin() as conn:  # as if that attempt's commit had settled nothing
        await conn.execute(update(Event).where(Event.id == event_id).values(status="processing"))
    settling = await grants.apply(engine, request)
    assert settling.settled == Settled("processed", None)
    assert settling.result.transaction_id == again.result.transaction_id  # no second grant
