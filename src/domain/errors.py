"""Failures a caller can act on; each carries a stable machine-readable code. The API maps
their kinds to HTTP statuses (``src/api/errors.py``): the rules know nothing of HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import ValidationError


class DomainError(Exception):
    """A rule was broken by the caller's input."""

    code = "invalid_request"

    def __init__(self, message: str, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class Invalid(DomainError):
    """Input that breaks a rule; ``details`` names each field: ``[{"field", "message"}]``."""

    code = "validation_failed"

    @classmethod
    def fields(cls, problems: list[dict[str, str]]) -> Invalid:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return cls(f"{first['field']}: {first['message']}{more}", problems)

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls.fields([{"field": field, "message": message}])

    @classmethod
    def of(cls, exc: ValidationError) -> Invalid:
        """A pydantic validation failure, each error at its dotted field path."""
        return cls.listed(exc.errors())

    @classmethod
    def listed(cls, errors: Sequence[Any], drop: tuple[str, ...] = ()) -> Invalid:
        """Pydantic's error dicts (``loc``, ``msg``), located without the ``drop`` prefixes."""
        problems = []
        for err in errors:
            loc = [str(p) for p in err.get("loc", ())]
            while loc and loc[0] in drop:
                loc = loc[1:]
            problems.append({"field": ".".join(loc) or "body", "message": str(err["msg"])})
        return cls.fields(problems)


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Unavailable(DomainError):
    """A service the request needs (the workflow engine) did not answer: nothing was done,
    and the same request may be repeated."""

    code = "temporal_unavailable"


class Refused(DomainError):
    """Allowed by the key's scopes, but not by the org's own settings."""

    code = "forbidden"


class Inconsistent(RuntimeError):
    """What the code relies on does not hold (a row it just wrote is missing, say): a defect
    or a database changed under it, never the caller's doing, so no DomainError."""


T = TypeVar("T")


def present(value: T | None, what: str) -> T:
    """``value``, which the caller knows cannot be None; :class:`Inconsistent` if it is."""
    if value is None:
        raise Inconsistent(f"{what} is missing")
    return value


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
START_REJECTED = "start_rejected"  # Temporal refused the start for good (see the relay)
# A refund action (org setting reversalActions) whose reversal cannot be made:
# reversal_refused:<why> (not_found, ambiguous, user_mismatch, no_amount, reversed_in_full,
# not_settled, validation_failed…).
REVERSAL_REFUSED = "reversal_refused"
# A waiting refund action's reason: waiting_for:<eventId of the purchase it reverses>.
WAITING_FOR = "waiting_for"
