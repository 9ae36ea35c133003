"""A user as the API shows it: identity, external IDs and what the user holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class UserRecord:
    """A user's own row: identity and contact."""

    id: str
    email: str | None
    phone: str | None
    created_at: datetime


@dataclass(frozen=True)
class UserView:
    id: str
    email: str | None
    phone: str | None
    created_at: datetime
    external_ids: list[tuple[str, str]]  # (source, external ID)
    balances: dict[str, Decimal]  # by currency
    products: list[tuple[str, int]]  # (product ID, quantity)
    codes: list[str]
