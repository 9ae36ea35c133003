"""Products: what ``award_product`` effects grant (badges, merchandise, tickets, entries)."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from src.api.auth import Principal, require
from src.api.body import parse
from src.api.errors import ApiError
from src.api.pagination import Cursor, Limit, page
from src.domain.campaigns import Identifier, Name
from src.store import catalog
from src.store.tables import Product

router = APIRouter(prefix="/v1/products", tags=["products"])
ProductType = Literal["badge", "merchandise", "ticket", "entry"]


class ProductPatch(BaseModel):
    """``stock`` null means unlimited; raising it restocks (replay out_of_stock events after)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    type: ProductType | None = None
    stock: int | None = Field(default=None, ge=0, le=2**31 - 1)


class ProductCreate(ProductPatch):
    id: Identifier | None = None
    name: Name
    type: ProductType = "badge"


def render(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "stock": row.stock,
        "createdAt": row.created_at.isoformat(),
    }


async def _get(request: Request, org_id: str, product_id: str) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        row = await catalog.get_product(conn, org_id, product_id)
    if row is None:
        raise ApiError(404, "not_found", f"product '{product_id}' not found")
    return render(row)


@router.post("", status_code=201)
async def create_product(
    request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> JSONResponse:
    body = await parse(request, ProductCreate)
    product_id = body.id or f"prod_{secrets.token_hex(8)}"
    async with request.app.state.engine.begin() as conn:
        values = body.model_dump(exclude={"id"}) | {"id": product_id}
        if not await catalog.create_item(conn, Product, principal.org_id, values):
            raise ApiError(409, "conflict", f"product '{product_id}' already exists")
    return JSONResponse(await _get(request, principal.org_id, product_id), status_code=201)


@router.get("")
async def list_products(
    request: Request,
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("campaigns:read")),
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = await catalog.list_products(conn, principal.org_id, cursor, limit + 1)
    return page(rows, limit, render, lambda r: r.id)


@router.get("/{product_id}")
async def get_product(
    product_id: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    return await _get(request, principal.org_id, product_id)


@router.patch("/{product_id}")
async def patch_product(
    product_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    body = await parse(request, ProductPatch)
    changes = body.model_dump(exclude_unset=True)
    if changes:
        async with request.app.state.engine.begin() as conn:
            if not await catalog.update_item(conn, Product, principal.org_id, product_id, changes):
                raise ApiError(404, "not_found", f"product '{product_id}' not found")
    return await _get(request, principal.org_id, product_id)


@router.delete("/{product_id}", status_code=204)
async def delete_product(
    product_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> Response:
    async with request.app.state.engine.begin() as conn:
        if not await catalog.delete_product(conn, principal.org_id, product_id):
            raise ApiError(404, "not_found", f"product '{product_id}' not found")
    return Response(status_code=204)
