"""Campaign limits: how often a campaign may fire, per user, per period and in total.

A firing reserves one unit (and its points) on every counter its limits name, in the plan's
transaction; a counter at its limit refuses the whole firing.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.domain.bounds import NOT_BOOLEAN
from src.domain.model import CamelModel

Count = Annotated[int, Field(ge=1, le=1_000_000_000), NOT_BOOLEAN]


class Reservation(StrEnum):
    """A limit reservation's state: held by a planned firing, given back (its effect failed,
    so a replay may take it again), or given back for good (its event was reversed)."""

    reserved = "reserved"
    released = "released"
    reversed = "reversed"


class PeriodLimit(CamelModel):
    model_config = ConfigDict(extra="forbid")

    count: Count
    period: Literal["day", "week", "month"]


class Limits(CamelModel):
    # One schema in the document for requests and replies (its Decimal is written as a
    # string, which the number-or-string it accepts covers), not Limits-Input/Limits-Output.
    model_config = ConfigDict(extra="forbid", json_schema_mode_override="validation")

    max_per_user: Count | None = None
    per_user_per_period: PeriodLimit | None = None
    max_total: Count | None = None
    points_budget: Decimal | None = Field(default=None, gt=0, max_digits=18, decimal_places=4)


class Counter(BaseModel):
    """One counter a firing must fit into; ``reason`` is what a refusal reports.

    The user is not part of it: a reservation keeps its counters and the user who holds them
    apart, so a merge or erasure moves a reservation by renaming its holder alone.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["total", "user", "period"]
    max_count: int | None
    max_points: Decimal | None
    reason: str
    period: str | None = None  # e.g. ``day:2025-10-06``

    def admits(self, count: int, points: Decimal, firing_points: Decimal) -> bool:
        """The limit rule, the one place it is written: whether one more firing (of
        ``firing_points``) fits a counter that holds ``count`` firings and ``points``."""
        if self.max_count is not None and count >= self.max_count:
            return False
        return self.max_points is None or points + firing_points <= self.max_points

    def scope(self, user_id: str) -> str:
        """The counter row's scope for the user holding the firing."""
        if self.kind == "total":
            return "total"
        if self.kind == "user":
            return user_scope(user_id)
        return f"{self.period}:{user_scope(user_id)}"


def period_key(period: str, moment: datetime, zone: tzinfo) -> str:
    """The calendar period of ``moment`` in the org's time zone: 2025-10-06, 2025-W41, 2025-10."""
    local = moment.astimezone(zone)
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def user_scope(user_id: str) -> str:
    """A user's lifetime counter scope."""
    return f"user:{user_id}"


# What precedes the user ID in a per-period scope (``Counter.scope``): the user ID comes last,
# so any ID (colons included) reads back unambiguously.
PERIOD_SCOPE_PREFIX = r"^(?:day|week|month):[0-9]{4}-[0-9W-]+:user:"


def counters(limits: Limits, moment: datetime, zone: tzinfo) -> list[Counter]:
    """Counters in a fixed order (total first), so concurrent reservations never deadlock.

    Per-period counters follow ``moment`` in the org's time zone.
    """
    out = []
    if limits.max_total is not None or limits.points_budget is not None:
        out.append(
            Counter(
                kind="total",
                max_count=limits.max_total,
                max_points=limits.points_budget,
                reason="maxTotal" if limits.points_budget is None else "maxTotal/pointsBudget",
            )
        )
    if limits.max_per_user is not None:
        out.append(
            Counter(
                kind="user", max_count=limits.max_per_user, max_points=None, reason="maxPerUser"
            )
        )
    if limits.per_user_per_period is not None:
        p = limits.per_user_per_period
        out.append(
            Counter(
                kind="period",
                max_count=p.count,
                max_points=None,
                reason="perUserPerPeriod",
                period=f"{p.period}:{period_key(p.period, moment, zone)}",
            )
        )
    return out
