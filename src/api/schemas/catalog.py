"""Products and code pools."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from src.api.schemas.common import Body, Instant, Omittable, Schema
from src.domain.bounds import JsonBounds, Moment, Stock, Whole
from src.domain.campaigns import Identifier, Name
from src.domain.catalog import MAX_IMPORT, Imported, Pool, ProductType


class ProductPatch(Body):
    """``stock`` null means unlimited; raising it restocks (replay out_of_stock events after)."""

    name: Name | Omittable = None
    type: ProductType | Omittable = None
    stock: Stock | None = None


class ProductCreate(ProductPatch):
    id: Identifier | None = None
    name: Name
    type: ProductType = "badge"


class ProductOut(Schema):
    id: str
    name: str
    type: ProductType
    stock: int | None
    created_at: Instant


class PoolPatch(Body):
    name: Name | Omittable = None
    expiresAt: Moment | None = None
    lowStockThreshold: Stock | None = None

    def changes(self) -> dict[str, Any]:
        """What the body sets, by the domain ``Pool``'s field names."""
        names = {
            "name": "name",
            "expiresAt": "expires_at",
            "lowStockThreshold": "low_stock_threshold",
        }
        return {names[k]: v for k, v in self.model_dump(exclude_unset=True).items() if k in names}


class PoolCreate(PoolPatch):
    id: Identifier | None = None
    name: Name


class PoolOut(Schema):
    id: str
    name: str
    available: int
    allocated: int
    expires_at: Instant | None
    low_stock_threshold: int | None
    low_stock: bool
    created_at: Instant

    @classmethod
    def of(cls, pool: Pool) -> PoolOut:
        return cls(
            id=pool.id,
            name=pool.name,
            available=pool.available,
            allocated=pool.allocated,
            expires_at=pool.expires_at,
            low_stock_threshold=pool.low_stock_threshold,
            low_stock=pool.low_stock,
            created_at=pool.created_at,
        )


class CodeImport(Body):
    """Codes to add (CSV works too: ``Content-Type: text/csv``, first column, a header row only
    with ``header=present``)."""

    bounds = JsonBounds(items=MAX_IMPORT)

    codes: list[str] = Field(min_length=1, max_length=MAX_IMPORT)


class Generate(Body):
    count: Whole = Field(ge=1, le=MAX_IMPORT)
    length: Whole = Field(default=10, ge=6, le=32)
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,16}$")


class ImportOut(Schema):
    imported: int
    duplicate_count: int
    duplicates: list[str] = Field(description="The first hundred.")
    pool: PoolOut

    @classmethod
    def of(cls, result: Imported) -> ImportOut:
        return cls(
            imported=result.imported,
            duplicate_count=result.duplicate_count,
            duplicates=result.duplicates,
            pool=PoolOut.of(result.pool),
        )


class GenerateOut(Schema):
    generated: int
    pool: PoolOut
