"""How an activity gives up, the one rule for all of them: an outage (the database, Temporal,
a pool whose free codes are all being claimed) is retried for as long as it lasts, any other
fault (in the data or the code) ``max_attempts`` times; then what it was doing is recorded
failed and the run is told not to retry."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from src.domain import errors
from src.services.grants import PoolContended
from src.store.db import is_transient

log = logging.getLogger(__name__)
Result = TypeVar("Result")


def is_outage(exc: BaseException) -> bool:
    """A fault that passes by itself: retried without counting attempts."""
    return is_transient(exc) or isinstance(exc, PoolContended | errors.Unavailable)


async def or_instead(
    work: Callable[[], Awaitable[Result]],
    max_attempts: int,
    instead: Callable[[str], Awaitable[Result]],
) -> Result:
    """``work()``, or, on its last attempt at a fault that is not an outage, what
    ``instead`` makes of the error's type (its message may quote the data that failed)."""
    try:
        return await work()
    except Exception as exc:
        if is_outage(exc) or activity.info().attempt < max_attempts:
            raise
        return await instead(type(exc).__name__)


async def or_give_up(
    work: Callable[[], Awaitable[Result]],
    max_attempts: int,
    kind: str,
    what: str,
    record_failure: Callable[[str], Awaitable[None]],
) -> Result:
    """``work()``, or, on its last attempt at a fault that is not an outage, the failure
    recorded (``record_failure`` gets the error's type) and a non-retryable ``kind`` error."""

    async def give_up(error: str) -> Result:
        await record_failure(error)
        log.error("%s gave up: %s", what, error)
        raise ApplicationError(
            f"{what} failed {activity.info().attempt} times: {error}",
            type=kind,
            non_retryable=True,
        ) from None

    return await or_instead(work, max_attempts, give_up)
