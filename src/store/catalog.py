"""Products, code pools and codes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.catalog import POOL_FIELDS, PRODUCT_FIELDS, Pool
from src.domain.catalog import Product as ProductRecord
from src.store.pages import keyset_page
from src.store.records import record, records
from src.store.tables import Code, CodePool, Product

_SETTABLE = {Product: PRODUCT_FIELDS, CodePool: POOL_FIELDS}


def _settable(model: type[Product | CodePool], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as columns: the domain fields a body may set are named as the columns."""
    unknown = values.keys() - _SETTABLE[model]
    if unknown:
        raise ValueError(f"not settable: {sorted(unknown)}")
    return values


async def _create(
    conn: AsyncConnection, model: type[Product | CodePool], org_id: str, values: dict[str, Any]
) -> bool:
    """False when the org already has one with this ID."""
    created = await conn.scalar(
        insert(model)
        .values(org_id=org_id, **_settable(model, values))
        .on_conflict_do_nothing()
        .returning(model.id)
    )
    return created is not None


async def _update(
    conn: AsyncConnection,
    model: type[Product | CodePool],
    org_id: str,
    item_id: str,
    values: dict[str, Any],
) -> bool:
    """False when the org has none with this ID."""
    done = await conn.scalar(
        update(model)
        .where(model.org_id == org_id, model.id == item_id)
        .values(**_settable(model, values))
        .returning(model.id)
    )
    return done is not None


async def create_product(conn: AsyncConnection, org_id: str, values: dict[str, Any]) -> bool:
    """``values``: ``PRODUCT_FIELDS``; False when the org has a product with this ID."""
    return await _create(conn, Product, org_id, values)


async def create_pool(conn: AsyncConnection, org_id: str, values: dict[str, Any]) -> bool:
    """``values``: ``POOL_FIELDS``; False when the org has a pool with this ID."""
    return await _create(conn, CodePool, org_id, values)


async def update_product(
    conn: AsyncConnection, org_id: str, product_id: str, values: dict[str, Any]
) -> bool:
    return await _update(conn, Product, org_id, product_id, values)


async def update_pool(
    conn: AsyncConnection, org_id: str, pool_id: str, values: dict[str, Any]
) -> bool:
    return await _update(conn, CodePool, org_id, pool_id, values)


async def get_product(conn: AsyncConnection, org_id: str, product_id: str) -> ProductRecord | None:
    row = (
        await conn.execute(
            select(Product).where(Product.org_id == org_id, Product.id == product_id)
        )
    ).first()
    return None if row is None else record(ProductRecord, row)


async def delete_product(conn: AsyncConnection, org_id: str, product_id: str) -> bool:
    """Awards already made stay in the ledger; later awards fail as ``unknown_product``."""
    done = await conn.scalar(
        delete(Product)
        .where(Product.org_id == org_id, Product.id == product_id)
        .returning(Product.id)
    )
    return done is not None


async def list_products(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> list[ProductRecord]:
    return records(
        ProductRecord, await keyset_page(conn, Product, Product.id, org_id, after, limit)
    )


async def delete_pool(conn: AsyncConnection, org_id: str, pool_id: str) -> bool:
    """Removes the pool and its free codes; allocated codes stay in the ledger."""
    done = await conn.scalar(
        delete(CodePool)
        .where(CodePool.org_id == org_id, CodePool.id == pool_id)
        .returning(CodePool.id)
    )
    if done is not None:
        await conn.execute(
            delete(Code).where(
                Code.org_id == org_id, Code.pool_id == pool_id, Code.allocated_at.is_(None)
            )
        )
    return done is not None


def _pool(pool: Row[Any], total: int, allocated: int) -> Pool:
    return Pool(
        pool.id,
        pool.name,
        pool.expires_at,
        pool.low_stock_threshold,
        pool.created_at,
        available=total - allocated,
        allocated=allocated,
    )


_COUNTS = select(
    Code.pool_id,
    func.count().label("total"),
    func.count(Code.allocated_at).label("allocated"),
).group_by(Code.pool_id)


async def get_pool(conn: AsyncConnection, org_id: str, pool_id: str) -> Pool | None:
    pool = (
        await conn.execute(
            select(CodePool).where(CodePool.org_id == org_id, CodePool.id == pool_id)
        )
    ).first()
    if pool is None:
        return None
    counts = (
        await conn.execute(_COUNTS.where(Code.org_id == org_id, Code.pool_id == pool_id))
    ).first()
    return _pool(pool, counts.total if counts else 0, counts.allocated if counts else 0)


async def list_pools(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> list[Pool]:
    pools = await keyset_page(conn, CodePool, CodePool.id, org_id, after, limit)
    counts = {
        r.pool_id: r
        for r in await conn.execute(
            _COUNTS.where(Code.org_id == org_id, Code.pool_id.in_([p.id for p in pools]))
        )
    }
    return [
        _pool(
            p,
            counts[p.id].total if p.id in counts else 0,
            counts[p.id].allocated if p.id in counts else 0,
        )
        for p in pools
    ]


async def lock_pool_size(conn: AsyncConnection, org_id: str, pool_id: str) -> int | None:
    """How many codes the pool holds, its row locked for this transaction so concurrent
    imports count one after another; None for no such pool."""
    found = await conn.scalar(
        select(CodePool.id)
        .where(CodePool.org_id == org_id, CodePool.id == pool_id)
        .with_for_update()
    )
    if found is None:
        return None
    held = await conn.scalar(
        select(func.count()).where(Code.org_id == org_id, Code.pool_id == pool_id)
    )
    return int(held or 0)


# Arrays, not N value lists: one prepared statement for 100,000 codes as for 1.
_INSERT_CODES = text(
    """
    INSERT INTO codes (org_id, pool_id, code)
    SELECT CAST(:org_id AS uuid), :pool_id, c FROM unnest(CAST(:codes AS text[])) AS c
    ON CONFLICT (org_id, pool_id, code) DO NOTHING
    RETURNING code
    """
)


async def import_codes(
    conn: AsyncConnection, org_id: str, pool_id: str, codes: list[str]
) -> set[str]:
    """Insert new codes; ones the pool already holds are skipped. Returns the codes added."""
    if not codes:
        return set()
    added = set(
        await conn.scalars(_INSERT_CODES, {"org_id": org_id, "pool_id": pool_id, "codes": codes})
    )
    if added:  # restocked: the next time it runs low is announced again
        await conn.execute(
            update(CodePool)
            .where(CodePool.org_id == org_id, CodePool.id == pool_id)
            .values(low_stock_notified_at=None)
        )
    return added
