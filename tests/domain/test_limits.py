"""The limit rule and the counters a firing takes, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from src.domain.limits import Counter, Limits, counters, period_key


def test_the_limit_rule() -> None:
    """One more firing fits while the count is under its cap and the points stay within the
    budget (reaching it exactly is allowed)."""
    capped = Counter(kind="user", max_count=2, max_points=None, reason="maxPerUser")
    assert capped.admits(1, Decimal(0), Decimal(100))
    assert not capped.admits(2, Decimal(0), Decimal(0))
    budget = Counter(kind="total", max_count=None, max_points=Decimal(100), reason="pointsBudget")
    assert budget.admits(50, Decimal(60), Decimal(40))
    assert not budget.admits(0, Decimal(60), Decimal("40.0001"))
    both = Counter(kind="total", max_count=1, max_points=Decimal(10), reason="maxTotal")
    assert not both.admits(1, Decimal(0), Decimal(1)) and not both.admits(0, Decimal(5), Decimal(6))


def test_period_keys_follow_the_org_time_zone() -> None:
    late = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    assert period_key("day", late, ZoneInfo("UTC")) == "2025-12-31"
    assert period_key("day", late, ZoneInfo("Europe/Berlin")) == "2026-01-01"
    assert period_key("week", late, ZoneInfo("UTC")) == "2026-W01"
    assert period_key("month", late, ZoneInfo("America/New_York")) == "2025-12"
    limits = Limits(maxTotal=1, maxPerUser=1, perUserPerPeriod={"count": 1, "period": "week"})
    scopes = [c.scope("u:1") for c in counters(limits, late, ZoneInfo("UTC"))]
    assert scopes == ["total", "user:u:1", "week:2026-W01:user:u:1"]
