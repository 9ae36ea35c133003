"""The ledger and campaign analytics."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from src.api.schemas.common import Amount, Instant, Schema
from src.api.schemas.ids import TransactionId
from src.domain.analytics import Report
from src.domain.ledger import Transaction, TxnType


class TransactionOut(Schema):
    """One ledger row: a grant, a reversal's row taking one back (negative amount, with the
    grant it reverses), or a merge's zero-amount marker."""

    id: TransactionId
    user_id: str
    type: TxnType
    amount: Amount
    currency: str | None
    balance_after: Amount | None
    product_id: str | None
    code: str | None
    campaign_id: str | None
    campaign_version: int | None
    event_id: str | None
    effect_index: int | None
    reason: str | None
    reverses: TransactionId | None = None
    reversal_id: str | None = None
    created_at: Instant

    @classmethod
    def of(cls, row: Transaction) -> TransactionOut:
        return cls(
            id=row.id,
            user_id=row.user_id,
            type=row.type,
            amount=row.amount,
            currency=row.currency,
            balance_after=row.balance_after,
            product_id=row.product_id,
            code=row.code,
            campaign_id=row.campaign_id,
            campaign_version=row.campaign_version,
            event_id=row.event_id,
            effect_index=row.effect_index,
            reason=row.reason,
            reverses=row.reverses_id,
            reversal_id=row.reversal_id,
            created_at=row.created_at,
        )


class FiguresOut(Schema):
    actions_matched: int
    users_rewarded: int
    points_issued: Amount
    products_awarded: int
    codes_allocated: int


class DayOut(FiguresOut):
    date: date


class CampaignReportOut(FiguresOut):
    campaign_id: str
    timezone: str
    effects_failed: dict[str, int]
    effects_skipped: dict[str, int]
    per_day: list[DayOut]

    @classmethod
    def of(cls, campaign_id: str, timezone: str, report: Report) -> CampaignReportOut:
        return cls(
            campaign_id=campaign_id,
            timezone=timezone,
            **asdict(report.totals),
            effects_failed=report.effects_failed,
            effects_skipped=report.effects_skipped,
            per_day=[DayOut(**asdict(d)) for d in report.per_day],
        )
