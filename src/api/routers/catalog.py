"""Products and code pools: what ``award_product`` and ``allocate_code`` effects draw on."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from src.api.auth import Principal, require
from src.api.body import parse
from src.api.errors import ApiError
from src.api.pagination import Cursor, Limit, page
from src.domain.campaigns import Identifier, Name
from src.store import catalog

router = APIRouter(tags=["catalog"])
MAX_IMPORT = 100_000


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Identifier | None = None
    name: Name
    type: Literal["badge", "merchandise", "ticket", "entry"] = "badge"
    stock: int | None = Field(default=None, ge=0)


class PoolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Identifier | None = None
    name: Name


class CodeImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: list[str] = Field(min_length=1, max_length=MAX_IMPORT)


def render_product(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "stock": row.stock,
        "createdAt": row.created_at.isoformat(),
    }


@router.post("/v1/products", status_code=201)
async def create_product(
    request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> JSONResponse:
    body = await parse(request, ProductCreate)
    product_id = body.id or f"prod_{secrets.token_hex(8)}"
    async with request.app.state.engine.begin() as conn:
        values = body.model_dump(exclude={"id"}) | {"id": product_id}
        if not await catalog.create_product(conn, principal.org_id, values):
            raise ApiError(409, "conflict", f"product '{product_id}' already exists")
        row = await catalog.get_product(conn, principal.org_id, product_id)
    assert row is not None
    return JSONResponse(render_product(row), status_code=201)


@router.get("/v1/products")
async def list_products(
    request: Request,
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("campaigns:read")),
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = await catalog.list_products(conn, principal.org_id, cursor, limit + 1)
    return page(rows, limit, render_product, lambda r: r.id)


@router.get("/v1/products/{product_id}")
async def get_product(
    product_id: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        row = await catalog.get_product(conn, principal.org_id, product_id)
    if row is None:
        raise ApiError(404, "not_found", f"product '{product_id}' not found")
    return render_product(row)


@router.post("/v1/code-pools", status_code=201)
async def create_pool(
    request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> JSONResponse:
    body = await parse(request, PoolCreate)
    pool_id = body.id or f"pool_{secrets.token_hex(8)}"
    async with request.app.state.engine.begin() as conn:
        if not await catalog.create_pool(conn, principal.org_id, pool_id, body.name):
            raise ApiError(409, "conflict", f"code pool '{pool_id}' already exists")
        pool = await catalog.get_pool(conn, principal.org_id, pool_id)
    return JSONResponse(pool, status_code=201)


@router.get("/v1/code-pools/{pool_id}")
async def get_pool(
    pool_id: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        pool = await catalog.get_pool(conn, principal.org_id, pool_id)
    if pool is None:
        raise ApiError(404, "not_found", f"code pool '{pool_id}' not found")
    return pool


@router.post("/v1/code-pools/{pool_id}/codes", status_code=201)
async def import_codes(
    pool_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    body = await parse(request, CodeImport, limit=16 * 1024 * 1024)
    codes = [c.strip() for c in body.codes]
    bad = [i for i, c in enumerate(codes) if not c or len(c) > 128]
    if bad:
        raise ApiError(
            422,
            "validation_failed",
            f"codes.{bad[0]}: must be 1-128 characters",
            [{"field": f"codes.{i}", "message": "must be 1-128 characters"} for i in bad[:20]],
        )
    unique = list(dict.fromkeys(codes))
    async with request.app.state.engine.begin() as conn:
        if await catalog.get_pool(conn, principal.org_id, pool_id) is None:
            raise ApiError(404, "not_found", f"code pool '{pool_id}' not found")
        added = 0
        for start in range(0, len(unique), 5_000):
            added += await catalog.import_codes(
                conn, principal.org_id, pool_id, unique[start : start + 5_000]
            )
        pool = await catalog.get_pool(conn, principal.org_id, pool_id)
    return {"imported": added, "duplicates": len(codes) - added, "pool": pool}
