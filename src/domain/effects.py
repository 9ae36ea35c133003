"""Planned effects and their outcomes: what crosses between workflow and activities."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from src.domain.ids import TRANSACTION

EffectStatus = Literal["granted", "failed"]


def effect_key(event_id: str, campaign_id: str, version: int, effect_index: int) -> str:
    """The exactly-once key of one grant: stable across retries, resets and replays."""
    return f"{event_id}:{campaign_id}:{version}:{effect_index}"


def firing_key(event_id: str, campaign_id: str, version: int) -> str:
    """One campaign's firing in one event: the key of its limit reservation."""
    return f"{event_id}:{campaign_id}:{version}"


class PlannedEffect(BaseModel):
    key: str
    campaign_id: str
    campaign_version: int
    effect_index: int
    type: Literal["add_points", "award_product", "allocate_code"]
    amount: Decimal | None = None
    currency: str | None = None
    product_id: str | None = None
    pool_id: str | None = None
    reason: str
    reserved: bool = False  # its firing holds a limit reservation (``store.limits``)

    def summary(self, user_id: str) -> str:
        """One line for the Temporal UI, e.g. ``add_points 500 → user_123``."""
        what = {
            "add_points": f"{self.amount} {self.currency if self.currency != 'points' else ''}",
            "award_product": str(self.product_id),
            "allocate_code": f"from {self.pool_id}",
        }[self.type].strip()
        return f"{self.type} {what} → {user_id}"


def points_of(effects: list[PlannedEffect]) -> Decimal:
    """Points a set of effects grants (every currency), as campaign budgets count them."""
    return sum((e.amount or Decimal(0) for e in effects if e.type == "add_points"), Decimal(0))


class LimitedCampaign(BaseModel):
    """A matched campaign whose limit refused this firing: none of its effects is granted."""

    campaign_id: str
    reason: str


class ActionPlan(BaseModel):
    """Result of the plan activity: who the user is and which effects to grant, in order."""

    # ``waiting``: a refund action whose purchase has not settled; nothing is stored, the run
    # plans again after a timer.
    status: Literal["processing", "processed", "skipped", "waiting"]
    user_id: str | None
    reason: str | None = None
    campaign_ids: list[str] = []
    effects: list[PlannedEffect] = []
    limited: list[LimitedCampaign] = []
    judged_at: datetime | None = None  # the time campaign windows were judged by


class EffectRequest(BaseModel):
    org_id: str
    event_id: str
    user_id: str
    effect: PlannedEffect


class EffectResult(BaseModel):
    """An activity result recorded in histories: ``transaction_id`` keeps its recorded form,
    the ledger row's prefixed ID (``txn_1042``, as webhook bodies carry it too)."""

    key: str
    status: EffectStatus
    transaction_id: str | None = None
    balance_after: Decimal | None = None
    code: str | None = None
    reason: str | None = None

    @classmethod
    def granted(
        cls, key: str, transaction: int, balance_after: Decimal | None, code: str | None
    ) -> EffectResult:
        return cls(
            key=key,
            status="granted",
            transaction_id=TRANSACTION.wire(transaction),
            balance_after=balance_after,
            code=code,
        )

    @property
    def transaction(self) -> int | None:
        """The ledger row's ID."""
        return None if self.transaction_id is None else TRANSACTION.parse(self.transaction_id)
