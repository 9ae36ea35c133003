"""Webhooks (``/v1/webhooks``): signed notifications of grants, reversals and failed or
skipped events, delivered at least once with the same ``webhook-id``, body and signature."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from src.api.deps import Admin, EngineDep, SealerDep
from src.api.schemas.common import Page, errors
from src.api.schemas.webhooks import (
    DeliveryOut,
    SecretOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
)
from src.domain.errors import Conflict, NotFound
from src.services import webhooks as service
from src.store import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    operation_id="createWebhook",
    responses=errors(422),
)
async def create_webhook(
    body: WebhookCreate, principal: Admin, engine: EngineDep, sealer: SealerDep
) -> WebhookCreated:
    """Subscribe ``url`` to ``events``; the reply's ``secret`` (shown once) signs them."""
    made, secret = await service.create(
        engine, sealer, principal.org_id, body.url, list(body.events)
    )
    return WebhookCreated.made(made, secret)


@router.get("", response_model=Page[WebhookOut], operation_id="listWebhooks", responses=errors())
async def list_webhooks(principal: Admin, engine: EngineDep) -> Page[WebhookOut]:
    async with engine.connect() as conn:
        rows = await webhooks.of_org(conn, principal.org_id)
    return Page[WebhookOut](data=[WebhookOut.of(r) for r in rows])


@router.get(
    "/{webhook_id}", response_model=WebhookOut, operation_id="getWebhook", responses=errors(404)
)
async def get_webhook(webhook_id: str, principal: Admin, engine: EngineDep) -> WebhookOut:
    async with engine.connect() as conn:
        row = await webhooks.get(conn, principal.org_id, webhook_id)
    if row is None:
        raise NotFound(f"webhook '{webhook_id}' not found")
    return WebhookOut.of(row)


@router.delete(
    "/{webhook_id}", status_code=204, operation_id="deleteWebhook", responses=errors(404)
)
async def delete_webhook(webhook_id: str, principal: Admin, engine: EngineDep) -> Response:
    """Unsubscribe; deliveries not yet made are dropped."""
    async with engine.begin() as conn:
        if not await webhooks.remove(conn, principal.org_id, webhook_id):
            raise NotFound(f"webhook '{webhook_id}' not found")
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=SecretOut,
    operation_id="rotateWebhookSecret",
    responses=errors(404),
)
async def rotate_secret(
    webhook_id: str, principal: Admin, engine: EngineDep, sealer: SealerDep
) -> SecretOut:
    """A new signing secret, shown once; every attempt from now on is signed with it."""
    return SecretOut(secret=await service.rotate(engine, sealer, principal.org_id, webhook_id))


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    operation_id="listWebhookDeliveries",
    responses=errors(404),
)
async def list_deliveries(
    webhook_id: str,
    principal: Admin,
    engine: EngineDep,
    limit: int = Query(50, ge=1, le=200),
) -> Page[DeliveryOut]:
    """The newest deliveries first, with their attempts."""
    async with engine.connect() as conn:
        if await webhooks.get(conn, principal.org_id, webhook_id) is None:
            raise NotFound(f"webhook '{webhook_id}' not found")
        rows = await webhooks.deliveries(conn, principal.org_id, webhook_id, limit)
    return Page[DeliveryOut](data=[DeliveryOut.of(r) for r in rows])


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/resend",
    status_code=202,
    response_model=None,
    response_class=Response,  # a 202 with no body, published as such
    response_description="Queued to be sent again.",
    operation_id="resendWebhookDelivery",
    responses=errors(404, 409),
)
async def resend(
    webhook_id: str, delivery_id: str, principal: Admin, engine: EngineDep
) -> Response:
    """Send a failed delivery again: the same ``webhook-id``, body and signature."""
    async with engine.begin() as conn:
        before = await webhooks.resend(conn, principal.org_id, webhook_id, delivery_id)
    if before is None:
        raise NotFound(f"delivery '{delivery_id}' not found")
    if before != "failed":
        raise Conflict(f"delivery '{delivery_id}' is {before}; only a failed one is re-sent")
    return Response(status_code=202)
