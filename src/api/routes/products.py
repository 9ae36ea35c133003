"""Products: what ``award_product`` effects grant (badges, merchandise, tickets, entries)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from src.api.deps import CampaignsRead, CampaignsWrite, EngineDep
from src.api.pagination import Cursor, Limit, page
from src.api.schemas.catalog import ProductCreate, ProductOut, ProductPatch
from src.api.schemas.common import Page, errors
from src.services import catalog

router = APIRouter(prefix="/v1/products", tags=["products"])


@router.post(
    "",
    status_code=201,
    response_model=ProductOut,
    operation_id="createProduct",
    responses=errors(409, 413, 422),
)
async def create_product(
    body: ProductCreate, principal: CampaignsWrite, engine: EngineDep
) -> ProductOut:
    values = body.model_dump(exclude={"id"}) | {"id": body.id or catalog.new_product_id()}
    return ProductOut.model_validate(await catalog.create_product(engine, principal.org_id, values))


@router.get("", response_model=Page[ProductOut], operation_id="listProducts", responses=errors(422))
async def list_products(
    principal: CampaignsRead, engine: EngineDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[ProductOut]:
    rows = await catalog.products_page(engine, principal.org_id, cursor, limit + 1)
    return page(rows, limit, ProductOut.model_validate, lambda r: r.id)


@router.get(
    "/{product_id}", response_model=ProductOut, operation_id="getProduct", responses=errors(404)
)
async def get_product(product_id: str, principal: CampaignsRead, engine: EngineDep) -> ProductOut:
    return ProductOut.model_validate(
        await catalog.get_product(engine, principal.org_id, product_id)
    )


@router.patch(
    "/{product_id}",
    response_model=ProductOut,
    operation_id="updateProduct",
    responses=errors(404, 413, 422),
)
async def patch_product(
    product_id: str, body: ProductPatch, principal: CampaignsWrite, engine: EngineDep
) -> ProductOut:
    changes = body.model_dump(exclude_unset=True)
    changed = await catalog.change_product(engine, principal.org_id, product_id, changes)
    return ProductOut.model_validate(changed)


@router.delete(
    "/{product_id}", status_code=204, operation_id="deleteProduct", responses=errors(404)
)
async def delete_product(product_id: str, principal: CampaignsWrite, engine: EngineDep) -> Response:
    """Awards already made stay in the ledger; later awards fail as ``unknown_product``."""
    await catalog.delete_product(engine, principal.org_id, product_id)
    return Response(status_code=204)
