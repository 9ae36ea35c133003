"""How a long-lived activity gives up: an outage is retried for as long as it lasts, any
other fault (in the data or the code) ``max_attempts`` times; then what it was doing is
recorded failed and the run is told not to retry."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from src.store.db import is_transient

log = logging.getLogger(__name__)
Result = TypeVar("Result")


async def or_give_up(
    work: Callable[[], Awaitable[Result]],
    max_attempts: int,
    kind: str,
    what: str,
    record_failure: Callable[[str], Awaitable[None]],
) -> Result:
    """``work()``, or, on its last attempt at a fault that is not an outage, the failure
    recorded (``record_failure`` gets the error's type) and a non-retryable ``kind`` error."""
    try:
        return await work()
    except Exception as exc:
        if is_transient(exc) or activity.info().attempt < max_attempts:
            raise
        error = type(exc).__name__
        await record_failure(error)
        log.error("%s gave up: %s", what, error)
        raise ApplicationError(
            f"{what} failed {activity.info().attempt} times: {error}",
            type=kind,
            non_retryable=True,
        ) from None
