"""Products and code pools: what ``award_product`` and ``allocate_code`` effects hand out.
Codes are imported or generated, within a pool's size cap."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.catalog import CODE_ALPHABET, Imported, Pool, Product
from src.domain.errors import Conflict, Invalid, NotFound, present
from src.store import catalog

INSERT_CHUNK = 10_000


def new_product_id() -> str:
    return f"prod_{secrets.token_hex(8)}"


def new_pool_id() -> str:
    return f"pool_{secrets.token_hex(8)}"


async def create_product(engine: AsyncEngine, org_id: str, values: dict[str, Any]) -> Product:
    """``values``: ``PRODUCT_FIELDS``, the ID included."""
    async with engine.begin() as conn:
        if not await catalog.create_product(conn, org_id, values):
            raise Conflict(f"product '{values['id']}' already exists")
    return await get_product(engine, org_id, values["id"])


async def get_product(engine: AsyncEngine, org_id: str, product_id: str) -> Product:
    async with engine.connect() as conn:
        found = await catalog.get_product(conn, org_id, product_id)
    if found is None:
        raise NotFound(f"product '{product_id}' not found")
    return found


async def products_page(
    engine: AsyncEngine, org_id: str, after: str | None, limit: int
) -> list[Product]:
    async with engine.connect() as conn:
        return await catalog.list_products(conn, org_id, after, limit)


async def change_product(
    engine: AsyncEngine, org_id: str, product_id: str, changes: dict[str, Any]
) -> Product:
    """``stock`` null means unlimited; raising it restocks (replay out_of_stock events after)."""
    if changes:
        async with engine.begin() as conn:
            if not await catalog.update_product(conn, org_id, product_id, changes):
                raise NotFound(f"product '{product_id}' not found")
    return await get_product(engine, org_id, product_id)


async def delete_product(engine: AsyncEngine, org_id: str, product_id: str) -> None:
    """Awards already made stay in the ledger; later awards fail as ``unknown_product``."""
    async with engine.begin() as conn:
        if not await catalog.delete_product(conn, org_id, product_id):
            raise NotFound(f"product '{product_id}' not found")


async def create_pool(engine: AsyncEngine, org_id: str, values: dict[str, Any]) -> Pool:
    async with engine.begin() as conn:
        if not await catalog.create_pool(conn, org_id, values):
            raise Conflict(f"code pool '{values['id']}' already exists")
    return await get_pool(engine, org_id, values["id"])


async def get_pool(engine: AsyncEngine, org_id: str, pool_id: str) -> Pool:
    async with engine.connect() as conn:
        pool = await catalog.get_pool(conn, org_id, pool_id)
    if pool is None:
        raise NotFound(f"code pool '{pool_id}' not found")
    return pool


async def pools_page(engine: AsyncEngine, org_id: str, after: str | None, limit: int) -> list[Pool]:
    async with engine.connect() as conn:
        return await catalog.list_pools(conn, org_id, after, limit)


async def change_pool(
    engine: AsyncEngine, org_id: str, pool_id: str, changes: dict[str, Any]
) -> Pool:
    if changes:
        async with engine.begin() as conn:
            if not await catalog.update_pool(conn, org_id, pool_id, changes):
                raise NotFound(f"code pool '{pool_id}' not found")
    return await get_pool(engine, org_id, pool_id)


async def delete_pool(engine: AsyncEngine, org_id: str, pool_id: str) -> None:
    """Removes the pool and its free codes; allocated codes stay in the ledger."""
    async with engine.begin() as conn:
        if not await catalog.delete_pool(conn, org_id, pool_id):
            raise NotFound(f"code pool '{pool_id}' not found")


def check_codes(codes: list[str]) -> list[str]:
    """Codes as stored: stripped, 1-128 printable characters each (else a 422 per code)."""
    codes = [c.strip() for c in codes]
    bad = [i for i, c in enumerate(codes) if not 1 <= len(c) <= 128 or not c.isprintable()]
    if bad:
        message = "must be 1-128 printable characters"
        raise Invalid.fields([{"field": f"codes.{i}", "message": message} for i in bad[:20]])
    return codes


async def add_codes(
    engine: AsyncEngine, org_id: str, pool_id: str, codes: list[str], cap: int
) -> Imported:
    """Add codes to the pool, within its size cap (counted under the pool's lock, so two
    imports at once cannot both pass it)."""
    async with engine.begin() as conn:
        held = await catalog.lock_pool_size(conn, org_id, pool_id)
        if held is None:
            raise NotFound(f"code pool '{pool_id}' not found")
        if held + len(codes) > cap:
            raise Conflict(
                f"code pool '{pool_id}' holds {held} codes; at most {cap} fit in one pool",
                {"codes": held, "max": cap},
                code="pool_full",
            )
        added: set[str] = set()
        for start in range(0, len(codes), INSERT_CHUNK):
            added |= await catalog.import_codes(
                conn, org_id, pool_id, codes[start : start + INSERT_CHUNK]
            )
    seen: set[str] = set()
    duplicates = []
    for code in codes:  # repeated in this request, or already in the pool
        if code in seen or code not in added:
            duplicates.append(code)
        seen.add(code)
    return Imported(
        imported=len(added),
        duplicate_count=len(codes) - len(added),
        duplicates=duplicates[:100],
        pool=await get_pool(engine, org_id, pool_id),
    )


def _generate(prefix: str, length: int, count: int) -> list[str]:
    return list(
        {
            prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
            for _ in range(count)
        }
    )


async def generate(
    engine: AsyncEngine, org_id: str, pool_id: str, count: int, length: int, prefix: str, cap: int
) -> Pool:
    """``count`` new unique codes: ``prefix`` + ``length`` cryptographically random characters,
    made off the event loop so other requests go on meanwhile."""
    if count * 1000 > len(CODE_ALPHABET) ** length:
        raise Invalid.field("length", "too short for this many unique codes")
    wanted, pool = count, None
    while wanted:  # collisions with existing codes are astronomically rare; top up if any
        codes = await asyncio.to_thread(_generate, prefix, length, wanted)
        result = await add_codes(engine, org_id, pool_id, codes, cap)
        wanted -= result.imported
        pool = result.pool
    return present(pool, f"pool {pool_id}")
