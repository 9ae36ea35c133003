"""Products, code pools and codes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.store.tables import Code, CodePool, Product


async def create_product(conn: AsyncConnection, org_id: str, values: dict[str, Any]) -> bool:
    """False when the org already has a product with this ID."""
    created = await conn.scalar(
        insert(Product)
        .values(org_id=org_id, **values)
        .on_conflict_do_nothing()
        .returning(Product.id)
    )
    return created is not None


async def get_product(conn: AsyncConnection, org_id: str, product_id: str) -> Row[Any] | None:
    return (
        await conn.execute(
            select(Product).where(Product.org_id == org_id, Product.id == product_id)
        )
    ).first()


async def list_products(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> list[Row[Any]]:
    query = select(Product).where(Product.org_id == org_id).order_by(Product.id).limit(limit)
    if after:
        query = query.where(Product.id > after)
    return list((await conn.execute(query)).all())


async def create_pool(conn: AsyncConnection, org_id: str, pool_id: str, name: str) -> bool:
    created = await conn.scalar(
        insert(CodePool)
        .values(org_id=org_id, id=pool_id, name=name)
        .on_conflict_do_nothing()
        .returning(CodePool.id)
    )
    return created is not None


async def get_pool(conn: AsyncConnection, org_id: str, pool_id: str) -> dict[str, Any] | None:
    pool = (
        await conn.execute(
            select(CodePool).where(CodePool.org_id == org_id, CodePool.id == pool_id)
        )
    ).first()
    if pool is None:
        return None
    counts = (
        await conn.execute(
            select(
                func.count().label("total"), func.count(Code.allocated_at).label("allocated")
            ).where(Code.org_id == org_id, Code.pool_id == pool_id)
        )
    ).one()
    return {
        "id": pool.id,
        "name": pool.name,
        "available": counts.total - counts.allocated,
        "allocated": counts.allocated,
        "createdAt": pool.created_at.isoformat(),
    }


async def import_codes(conn: AsyncConnection, org_id: str, pool_id: str, codes: list[str]) -> int:
    """Insert new codes; ones the pool already holds are skipped. Returns how many were added."""
    if not codes:
        return 0
    inserted = await conn.execute(
        insert(Code)
        .values([{"org_id": org_id, "pool_id": pool_id, "code": c} for c in codes])
        .on_conflict_do_nothing()
        .returning(Code.id)
    )
    return len(inserted.all())
