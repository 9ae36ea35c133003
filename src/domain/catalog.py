"""What campaigns grant besides points: products, and unique codes from pools."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ProductType = Literal["badge", "merchandise", "ticket", "entry"]
MAX_IMPORT = 100_000  # codes per import or generation
# No 0/O, 1/I/L: codes get read aloud and typed from receipts.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    type: ProductType
    stock: int | None  # None: unlimited
    created_at: datetime


# What a body may set on each (field names of Product and Pool).
PRODUCT_FIELDS = frozenset({"id", "name", "type", "stock"})
POOL_FIELDS = frozenset({"id", "name", "expires_at", "low_stock_threshold"})


@dataclass(frozen=True)
class Pool:
    id: str
    name: str
    expires_at: datetime | None
    low_stock_threshold: int | None
    created_at: datetime
    available: int
    allocated: int

    @property
    def low_stock(self) -> bool:
        return self.low_stock_threshold is not None and self.available <= self.low_stock_threshold


@dataclass(frozen=True)
class Imported:
    """Codes added to a pool; ones it held already, or repeated in the request, reported."""

    imported: int
    duplicate_count: int
    duplicates: list[str]  # the first hundred
    pool: Pool
