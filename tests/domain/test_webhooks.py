"""The webhook retry schedule as pure functions: how long a delivery waits after each failed
attempt, and when it gives up. DeliverWebhook waits exactly these times on its timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from src.config import Settings
from src.domain.webhooks import DeliveryInput, next_retry, retry_delay

STARTED = datetime(2026, 3, 1, 12, tzinfo=UTC)


def delivery(first: float, cap: float, give_up: float) -> DeliveryInput:
    return DeliveryInput(
        delivery_id="msg_1",
        org_id="org_1",
        first_retry_seconds=first,
        max_retry_seconds=cap,
        give_up_seconds=give_up,
        local_attempts=True,
    )


def run_failing(
    run: DeliveryInput, attempt_seconds: float = 0.0
) -> tuple[list[datetime], list[float]]:
    """When each attempt of a run starts and the waits between them, every attempt failing
    after ``attempt_seconds``: what DeliverWebhook does, without Temporal."""
    now, starts, planned = STARTED, [STARTED], list[float]()
    while True:
        now += timedelta(seconds=attempt_seconds)
        wait = next_retry(run, len(starts), STARTED, now)
        if wait is None:
            return starts, planned
        planned.append(wait)
        now += timedelta(seconds=wait)
        starts.append(now)


def waits(run: DeliveryInput, attempt_seconds: float = 0.0) -> list[float]:
    return run_failing(run, attempt_seconds)[1]


def test_waits_double_from_the_first_up_to_the_cap() -> None:
    assert [retry_delay(n, 0.2, 0.5) for n in range(1, 6)] == [0.2, 0.4, 0.5, 0.5, 0.5]
    assert [retry_delay(n, 5, 3600) for n in (1, 2, 3, 10, 11, 12)] == [
        5,
        10,
        20,
        2560,
        3600,
        3600,
    ]
    assert retry_delay(1, 10, 3) == 3  # a first wait above the cap is capped too
    assert retry_delay(10**6, 1e-300, 1.0) == 1.0  # far past the cap: no overflow


def test_a_run_gives_up_when_the_next_attempt_would_start_past_the_give_up_time() -> None:
    run = delivery(0.2, 0.5, 3.0)
    assert waits(run) == [0.2, 0.4, 0.5, 0.5, 0.5, 0.5]  # 2.6 s; one more would end at 3.1 s
    at = STARTED + timedelta(seconds=2.5)
    assert next_retry(run, 6, STARTED, at) == 0.5  # starts exactly at the give-up time: made
    assert next_retry(run, 6, STARTED, at + timedelta(microseconds=1)) is None
    # Slow attempts use up the same time: fewer of them fit.
    assert waits(run, attempt_seconds=0.3) == [0.2, 0.4, 0.5, 0.5]
    assert waits(delivery(5.0, 5.0, 1.0)) == []  # the one attempt, then failed


def test_the_default_schedule_tries_for_three_days() -> None:
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    run = delivery(
        defaults["webhook_first_retry_seconds"],
        defaults["webhook_max_retry_seconds"],
        defaults["webhook_give_up_seconds"],
    )
    planned = waits(run)
    assert planned[:3] == [5, 10, 20] and max(planned) == 3600
    assert sum(planned) <= 3 * 86400 < sum(planned) + 3600
    assert len(planned) == 10 + 70  # 10 waits doubling from 5 s to 2560 s, then 70 hourly


seconds = st.floats(min_value=0.05, max_value=100)


@given(first=seconds, cap=seconds, give_up=st.floats(0.001, 100), attempt=st.floats(0, 5))
def test_every_schedule_keeps_its_bounds(
    first: float, cap: float, give_up: float, attempt: float
) -> None:
    """Waits never shrink nor pass the cap, and every attempt starts within the give-up time;
    the last failure is given up on only because the next attempt would start after it."""
    run = delivery(first, cap, give_up)
    starts, planned = run_failing(run, attempt)
    assert planned == sorted(planned) and all(w <= cap for w in planned)
    gaps = [(b - a).total_seconds() - attempt for a, b in pairwise(starts)]
    assert all(abs(g - w) < 1e-5 for g, w in zip(gaps, planned, strict=True))  # to the µs
    end = STARTED + timedelta(seconds=give_up)
    assert all(s <= end for s in starts)
    last_failed = starts[-1] + timedelta(seconds=attempt)
    assert last_failed + timedelta(seconds=retry_delay(len(starts), first, cap)) > end
