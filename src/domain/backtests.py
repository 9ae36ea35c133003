"""Backtests: what a campaign version would have granted over stored actions, as pure rules.

Each stored action is judged as planning judges it (``domain.planning.plan``: the same
conditions, windows and effects) and its firing checked against the campaign's limits with the
one limit rule (``Counter.admits``), on counters started empty, in timestamp order. A page
is judged with the counters and rewarded users its actions touch, loaded for it and written
back after it, so what a page holds and rewrites does not grow with the users seen so far.
Nothing is written anywhere but the backtest's own rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from src.domain.actions import judged_at
from src.domain.campaigns import CampaignVersion
from src.domain.effects import points_of
from src.domain.errors import present
from src.domain.limits import counters
from src.domain.planning import plan

MAX_WINDOW = timedelta(days=366)
PAGE = 1000  # stored actions read (and progress saved) at a time, at most
PAGE_BYTES = 8 * 1024 * 1024  # and at most about this much of their data and metadata


class BacktestStatus(StrEnum):
    running = "running"
    completed = "completed"
    failed = "failed"


class BacktestInput(BaseModel):
    """What a BacktestCampaign run needs; the stored actions and progress its activity reads."""

    backtest_id: str
    org_id: str
    # Silence after which the worker is taken for dead (a page takes well under a second).
    heartbeat_seconds: float = 60.0


@dataclass(frozen=True)
class BacktestView:
    id: str
    campaign_id: str
    campaign_version: int
    window_start: datetime
    window_end: datetime
    status: str
    processed: int
    total: int
    result: dict[str, Any] | None
    error: str | None
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    def eta_seconds(self, now: datetime) -> float | None:
        """Time left at the pace so far; None until there is a pace, 0 once finished."""
        if self.status != BacktestStatus.running:
            return 0.0
        if self.processed == 0:
            return None
        pace = (now - self.started_at).total_seconds() / self.processed
        return round(pace * max(self.total - self.processed, 0), 1)


class DayTally(BaseModel):
    matched: int = 0
    fired: int = 0
    points: dict[str, Decimal] = Field(default_factory=dict)
    products: int = 0
    codes: int = 0


class Tally(BaseModel):
    """A backtest's running state: results so far and where it stopped (saved with each
    page, so a restarted run resumes where the last one saved); ``counters`` holds the page's
    own, loaded and written beside it, never saved in the state."""

    after: tuple[datetime, str] | None = None  # (timestamp, event ID) of the last action read
    processed: int = 0
    matched: int = 0
    fired: int = 0
    unknown_users: int = 0
    distinct_users: int = 0  # users rewarded (each one a ``backtest_users`` row: exact)
    points: dict[str, Decimal] = Field(default_factory=dict)
    products: dict[str, int] = Field(default_factory=dict)
    codes: dict[str, int] = Field(default_factory=dict)  # codes needed, by pool
    refusals: dict[str, int] = Field(default_factory=dict)  # by the limit that refused
    counters: dict[str, tuple[int, Decimal]] = Field(default_factory=dict, exclude=True)
    days: dict[str, DayTally] = Field(default_factory=dict)
    available: dict[str, int] = Field(default_factory=dict)  # each pool's free codes at the end

    def result(self) -> dict[str, Any]:
        """The figures a finished backtest reports (without its working state)."""
        shown = self.model_dump(mode="json", exclude={"after", "codes"})
        pools = {
            pool: {"needed": needed, "available": self.available.get(pool, 0)}
            for pool, needed in self.codes.items()
        }
        return shown | {"codes": pools}


class Stored(BaseModel):
    """One stored action as a backtest reads it."""

    event_id: str
    action: str
    occurred_at: datetime
    accepted_at: datetime
    data: dict[str, Any]
    metadata: dict[str, Any]
    user: dict[str, Any] | None  # the platform user it resolved to, if it still exists


def scopes(version: CampaignVersion, page: list[Stored], zone: ZoneInfo) -> set[str]:
    """The limit counters the page's actions could take: the ones to load before judging."""
    rules = version.definition.limits
    if rules is None:
        return set()
    return {
        counter.scope(str(stored.user["id"]))
        for stored in page
        if stored.user is not None
        for counter in counters(rules, stored.accepted_at, zone)
    }


def impersonal(stored: Stored) -> Stored:
    """The action as a key without ``users:read`` may judge it: its user's email and phone
    are absent (as in a simulation), so a backtest cannot probe them condition by condition."""
    if stored.user is None:
        return stored
    return stored.model_copy(update={"user": {**stored.user, "email": None, "phone": None}})


def step(
    tally: Tally,
    stored: Stored,
    version: CampaignVersion,
    zone: ZoneInfo,
    max_age: timedelta,
    seen: set[str],
) -> None:
    """Judge one stored action and add what it would have done to ``tally``; ``seen`` holds
    the page's users rewarded so far (in this page or before it)."""
    tally.processed += 1
    tally.after = (stored.occurred_at, stored.event_id)
    moment = judged_at(stored.occurred_at, stored.accepted_at, max_age)
    facts: Mapping[str, Any] = {
        "data": stored.data,
        "metadata": stored.metadata,
        "user": stored.user or {},
    }
    matched, effects = plan(stored.event_id, stored.action, moment, facts, [version])
    if not matched:
        return
    tally.matched += 1
    day = tally.days.setdefault(moment.astimezone(zone).date().isoformat(), DayTally())
    day.matched += 1
    if stored.user is None:
        tally.unknown_users += 1
        return
    user_id = str(stored.user["id"])
    rules = version.definition.limits
    if rules is not None and effects:
        firing = points_of(effects)
        taken = [(c, c.scope(user_id)) for c in counters(rules, stored.accepted_at, zone)]
        for counter, scope in taken:
            count, points = tally.counters.get(scope, (0, Decimal(0)))
            if not counter.admits(count, points, firing):
                tally.refusals[counter.reason] = tally.refusals.get(counter.reason, 0) + 1
                return
        for _, scope in taken:
            count, points = tally.counters.get(scope, (0, Decimal(0)))
            tally.counters[scope] = (count + 1, points + firing)
    if not effects:
        return
    tally.fired += 1
    day.fired += 1
    if user_id not in seen:
        seen.add(user_id)
        tally.distinct_users += 1
    for effect in effects:
        if effect.type == "add_points":
            amount = present(effect.amount, "an add_points effect's amount")
            currency = present(effect.currency, "an add_points effect's currency")
            tally.points[currency] = tally.points.get(currency, 0) + amount
            day.points[currency] = day.points.get(currency, 0) + amount
        elif effect.type == "award_product":
            product = str(effect.product_id)
            tally.products[product] = tally.products.get(product, 0) + 1
            day.products += 1
        else:
            pool = str(effect.pool_id)
            tally.codes[pool] = tally.codes.get(pool, 0) + 1
            day.codes += 1
