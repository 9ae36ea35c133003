"""Domain failures that a caller can act on; each carries a stable machine-readable code."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule was broken by the caller's input; maps to a 4xx, never a 500."""

    status = 422
    code = "invalid_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


# Effect failures that retrying cannot fix; the event ends failed/skipped and can be replayed.
POOL_EXHAUSTED = "pool_exhausted"
POOL_EXPIRED = "pool_expired"
OUT_OF_STOCK = "out_of_stock"
UNKNOWN_PRODUCT = "unknown_product"
UNKNOWN_POOL = "unknown_pool"
UNKNOWN_USER = "unknown_user"
UNENROLLABLE_ID = "unenrollable_id"  # the org enrols unknown users, but not by email or phone
INVALID_VALUE = "invalid_value"
LIMIT_REACHED = "limit_reached"  # reported as limit_reached:<limit>
# Planning or granting failed repeatedly for a reason other than an unavailable database.
PLAN_ERROR = "plan_error"
EFFECT_ERROR = "effect_error"
# Restarted by the reconciler again and again without settling.
STRANDED = "stranded"
