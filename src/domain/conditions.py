"""Condition evaluation: pure, total functions over JSON-like action data.

The type rule (never raises, whatever the data):
- numbers (int, float, Decimal; never bool) compare as Decimal, so ``100 == 100.0``;
- ``> >= < <=`` need two numbers or two strings (strings compare by code point, so ISO 8601
  dates order correctly); any other pairing is false;
- ``==`` / ``in`` compare numbers numerically and everything else by strict type-and-value;
- ``contains`` is substring on strings and membership on lists; ``starts_with`` / ``ends_with``
  need two strings;
- a missing or null field fails every operator except ``not_exists``;
- ``!= not_in not_contains`` are the negations of ``== in contains`` on present fields;
- ``items[].sku`` fans out over the list: a positive operator passes when any item passes, a
  negated one when no item matches its positive form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

OPERATORS = (
    "==",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "exists",
    "not_exists",
)
NEGATIONS = {"!=": "==", "not_in": "in", "not_contains": "contains", "not_exists": "exists"}
ROOTS = ("data", "metadata", "user")

_MISSING = object()


def as_decimal(value: Any) -> Decimal | None:
    """A JSON number as an exact Decimal (floats via their shortest repr), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return _number(value)


@lru_cache(maxsize=65_536)
def _number(value: int | float) -> Decimal | None:
    # Condition values recur on every evaluation: convert each once.
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


@lru_cache(maxsize=4096)
def split_path(field: str) -> tuple[str, tuple[str, ...]]:
    """Split ``metadata.source`` into root and segments; bare paths live under ``data``."""
    parts = tuple(field.split("."))
    if parts[0] in ROOTS and len(parts) > 1:
        return parts[0], parts[1:]
    return "data", parts


def is_valid_path(field: str) -> bool:
    if not field or len(field) > 200:
        return False
    _, segments = split_path(field)
    for seg in segments:
        name = seg[:-2] if seg.endswith("[]") else seg
        if not name or "[" in name or "]" in name:
            return False
    return True


def resolve(field: str, context: Mapping[str, Any]) -> list[Any]:
    """The present, non-null values at ``field`` (several when it fans out with ``[]``)."""
    root, segments = split_path(field)
    top = context.get(root)
    if len(segments) == 1 and not segments[0].endswith("[]"):  # the common case: one key
        value = top.get(segments[0]) if isinstance(top, Mapping) else None
        return [] if value is None else [value]
    values: list[Any] = [_MISSING if top is None else top]
    for seg in segments:
        many = seg.endswith("[]")
        name = seg[:-2] if many else seg
        nxt: list[Any] = []
        for value in values:
            child = value.get(name, _MISSING) if isinstance(value, Mapping) else _MISSING
            if many:
                if isinstance(child, list):
                    nxt.extend(child)
            else:
                nxt.append(child)
        values = nxt
    return [v for v in values if v is not _MISSING and v is not None]


def _equal(a: Any, b: Any) -> bool:
    da, db = as_decimal(a), as_decimal(b)
    if da is not None and db is not None:
        return da == db
    return type(a) is type(b) and a == b


def _ordered(op: str, a: Any, b: Any) -> bool:
    da, db = as_decimal(a), as_decimal(b)
    if da is not None and db is not None:
        left, right = da, db
    elif isinstance(a, str) and isinstance(b, str):
        left, right = a, b  # type: ignore[assignment]
    else:
        return False
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    return left <= right


def _contains(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return b in a
    if isinstance(a, list):
        return any(_equal(item, b) for item in a)
    return False


def _member(a: Any, b: Any) -> bool:
    return isinstance(b, list) and any(_equal(a, item) for item in b)


_POSITIVE: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    ">": lambda a, b: _ordered(">", a, b),
    ">=": lambda a, b: _ordered(">=", a, b),
    "<": lambda a, b: _ordered("<", a, b),
    "<=": lambda a, b: _ordered("<=", a, b),
    "in": _member,
    "contains": _contains,
    "starts_with": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.startswith(b),
    "ends_with": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.endswith(b),
    "exists": lambda a, b: True,
}


def evaluate(field: str, operator: str, value: Any, context: Mapping[str, Any]) -> bool:
    """Whether one condition holds for the action context (``data``, ``metadata``, ``user``)."""
    return evaluate_values(resolve(field, context), operator, value)


def evaluate_values(found: Iterable[Any], operator: str, value: Any) -> bool:
    found = list(found)
    if operator == "not_exists":
        return not found
    if not found:
        return False
    positive = NEGATIONS.get(operator)
    if positive is not None:
        return not any(_POSITIVE[positive](item, value) for item in found)
    check = _POSITIVE.get(operator)
    if check is None:
        return False
    return any(check(item, value) for item in found)
