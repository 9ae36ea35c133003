"""Reversals: taking back what an event granted, as pure rules.

In full, a reversal takes back everything the event granted that is not taken back yet:
points (the balance may go below zero: points already spent are owed, as a refund of a paid
order is owed, and later earnings pay the debt first), products, and codes (revoked, never
returned to the pool: whoever has seen a code may still try it). In part, it refunds
``amount`` of the action's ``data.amount``: each points grant is scaled by the refunded share
(rounded down to the ledger's four decimals) and never beyond what remains of it; products and
codes stay until the refunds add up to the whole amount, and that last refund reverses in full.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from src.domain.errors import Invalid

FULL = "full"  # the key of a reversal in full sent without an Idempotency-Key
LEDGER_STEP = Decimal("0.0001")


class ReversalInput(BaseModel):
    """What a ReverseAction run needs; everything else its activity reads."""

    reversal_id: str
    org_id: str
    event_id: str


class ReversalResult(BaseModel):
    """What a reversal took back: ledger rows written, points by currency, products, codes."""

    reversal_id: str
    entries: int
    points: dict[str, Decimal]
    products: int
    codes: int
    full: bool  # everything the event granted is now taken back, its limits released
    # Which (empty in results recorded before 0.6.0): a product ID per unit, each code.
    product_ids: list[str] = []
    revoked_codes: list[str] = []


class ReversalStatus(StrEnum):
    queued = "queued"  # until its ReverseAction run applies it
    completed = "completed"
    failed = "failed"  # it took nothing; a new request may be sent


@dataclass(frozen=True)
class Grant:
    """One ledger row the event granted, and how much of it reversals took back so far."""

    ledger_id: int
    type: str  # points | product | code
    amount: Decimal
    taken_back: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.taken_back


@dataclass(frozen=True)
class ReversalView:
    id: str
    event_id: str
    amount: Decimal | None
    reason: str | None
    status: str  # a ReversalStatus
    result: dict[str, Any] | None
    created_at: datetime
    completed_at: datetime | None

    @property
    def workflow_id(self) -> str:
        return workflow_id(self.event_id, self.id)


def reversal_id(org_id: str, event_id: str, key: str) -> str:
    """Derived from the event and the reversal's key: a retry finds the same reversal."""
    digest = hashlib.sha256(f"{org_id}\0{event_id}\0{key}".encode()).hexdigest()
    return f"rev_{digest[:24]}"


def workflow_id(event_id: str, reversal: str) -> str:
    return f"{event_id}:reverse:{reversal.removeprefix('rev_')}"


def refundable(data: dict[str, Any]) -> Decimal | None:
    """The action's ``data.amount`` when it is a positive number: what partial refunds share."""
    amount = data.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return None
    try:
        value = Decimal(str(amount))
    except ArithmeticError:
        return None
    return value if value.is_finite() and value > 0 else None


def check_partial(amount: Decimal, original: Decimal | None, refunded: Decimal) -> None:
    """A partial refund needs the original amount and must fit in what is left of it."""
    if original is None:
        raise Invalid.field(
            "amount", "a partial reversal needs the action's data.amount (a positive number)"
        )
    if refunded + amount > original:
        left = max(original - refunded, Decimal(0))
        raise Invalid.field("amount", f"exceeds what is left to refund ({left:f})")


def share(
    amount: Decimal | None, original: Decimal | None, refunded_before: Decimal
) -> Decimal | None:
    """The share of each points grant this reversal takes; None: everything that remains."""
    if amount is None or original is None or refunded_before + amount >= original:
        return None
    return amount / original


def take_back(grants: list[Grant], part: Decimal | None) -> list[tuple[Grant, Decimal]]:
    """(grant, quantity to take back) for each grant this reversal touches."""
    taken = []
    for grant in grants:
        if grant.remaining <= 0:
            continue
        if part is None:
            quantity = grant.remaining
        elif grant.type == "points":
            scaled = (grant.amount * part).quantize(LEDGER_STEP, rounding=ROUND_DOWN)
            quantity = min(scaled, grant.remaining)
        else:
            continue
        if quantity > 0:
            taken.append((grant, quantity))
    return taken
