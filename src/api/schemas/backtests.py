"""Backtests of a campaign over stored actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from src.api.schemas.common import Amount, Body, Instant, Schema
from src.domain.backtests import BacktestView
from src.domain.bounds import Moment


class BacktestBody(Body):
    """The window of stored actions (by their own timestamps) to judge the campaign over."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"from": "2025-07-01T00:00:00Z", "to": "2025-10-01T00:00:00Z"}]
        },
    )
    start: Moment = Field(alias="from")
    end: Moment = Field(alias="to")


class PoolNeedOut(Schema):
    needed: int
    available: int = Field(description="free codes in the pool when the backtest finished")


class BacktestDayOut(Schema):
    matched: int
    fired: int
    points: dict[str, Amount]
    products: int
    codes: int


class BacktestResultOut(Schema):
    processed: int
    matched: int = Field(description="actions the campaign's triggers and conditions match")
    fired: int = Field(description="matched actions its limits let through, with effects")
    distinct_users: int
    unknown_users: int = Field(description="matched actions whose user no longer exists")
    points: dict[str, Amount]
    products: dict[str, int]
    codes: dict[str, PoolNeedOut]
    refusals: dict[str, int] = Field(description="firings refused, by the limit that refused")
    days: dict[str, BacktestDayOut]


class BacktestOut(Schema):
    id: str = Field(examples=["bt_0f8e4b1c2d3a4e5f60718293a4b5c6d7"])
    campaign_id: str
    campaign_version: int
    start: Instant = Field(serialization_alias="from")
    end: Instant = Field(serialization_alias="to")
    status: Literal["running", "completed", "failed"]
    processed: int
    total: int
    eta_seconds: float | None
    result: BacktestResultOut | None
    error: str | None
    started_at: Instant
    updated_at: Instant
    completed_at: Instant | None

    @classmethod
    def of(cls, view: BacktestView, now: datetime) -> BacktestOut:
        fields: dict[str, Any] = {
            **vars(view),
            "start": view.window_start,
            "end": view.window_end,
            "eta_seconds": view.eta_seconds(now),
        }
        return cls.model_validate(fields)
