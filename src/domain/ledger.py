"""The ledger as its readers see it: one row per movement, never changed once written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

TxnType = Literal["points", "product", "code", "merge"]


@dataclass(frozen=True)
class Transaction:
    """A grant, a reversal's row taking one back (negative amount, ``reverses_id`` naming the
    grant), or a merge's zero-amount marker."""

    id: int
    user_id: str
    type: TxnType
    amount: Decimal
    currency: str | None
    balance_after: Decimal | None
    product_id: str | None
    code: str | None
    campaign_id: str | None
    campaign_version: int | None
    event_id: str | None
    effect_index: int | None
    reason: str | None
    reverses_id: int | None
    reversal_id: str | None
    created_at: datetime
