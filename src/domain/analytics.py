"""What a campaign did: figures over its life and per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Figures:
    actions_matched: int
    users_rewarded: int
    points_issued: Decimal
    products_awarded: int
    codes_allocated: int


@dataclass(frozen=True)
class Day(Figures):
    date: date


@dataclass(frozen=True)
class Report:
    totals: Figures
    effects_failed: dict[str, int]  # by reason
    effects_skipped: dict[str, int]  # firings a limit refused, by reason
    per_day: list[Day]
