"""Condition evaluation: pure, total functions over JSON-like action data.

The type rule (never raises, whatever the data):
- numbers (int, float, Decimal; never bool) compare as Decimal, so ``100 == 100.0``;
- ``> >= < <=`` need two numbers or two strings (strings compare by code point, so ISO 8601
  dates order correctly); any other pairing is false;
- ``==`` / ``in`` compare numbers numerically and everything else by strict type-and-value,
  inside lists and objects too (``[true]`` is not ``[1]``);
- ``contains`` is substring on strings and membership on lists; ``starts_with`` / ``ends_with``
  need two strings;
- a missing or null field fails every operator except ``not_exists``;
- ``!= not_in not_contains`` are the negations of ``== in contains`` on present fields;
- ``items[].sku`` fans out over the list: a positive operator passes when any item passes, a
  negated one when no item matches its positive form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import ge, gt, le, lt
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


Check = Callable[[Mapping[str, Any]], bool]
_Test = Callable[[Any], bool]


def _never(_: Any) -> bool:
    return False


def _same(a: Any, b: Any) -> bool:
    """The type rule's equality, applied inside lists and objects too (so ``[true] != [1]``)."""
    da, db = as_decimal(a), as_decimal(b)
    if da is not None or db is not None:
        return da == db
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(value, b[key]) for key, value in a.items())
    return _identical(a, b)


def _identical(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except InvalidOperation:  # a signalling NaN equals nothing
        return False


def _equal_to(b: Any) -> _Test:
    number = as_decimal(b)
    if number is not None:
        return lambda a: as_decimal(a) == number
    if isinstance(b, list | dict | Decimal):
        return lambda a: _same(a, b)
    kind = type(b)
    return lambda a: type(a) is kind and a == b


def _ordered(op: str, b: Any) -> _Test:
    number = as_decimal(b)
    compare: Callable[[Any, Any], bool] = _COMPARE[op]
    if number is not None:
        return lambda a: (left := as_decimal(a)) is not None and compare(left, number)
    if isinstance(b, str):
        return lambda a: isinstance(a, str) and compare(a, b)
    return _never


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": gt,
    ">=": ge,
    "<": lt,
    "<=": le,
}


def _member_of(b: Any) -> _Test:
    if not isinstance(b, list):
        return _never
    numbers = {n for n in map(as_decimal, b) if n is not None}  # equal numbers hash alike
    others = [item for item in b if as_decimal(item) is None]
    strings = {item for item in others if type(item) is str}

    def test(a: Any) -> bool:
        number = as_decimal(a)
        if number is not None:
            return number in numbers
        if type(a) is str:
            return a in strings
        return any(_same(a, item) for item in others)

    return test


def _containing(b: Any) -> _Test:
    equal = _equal_to(b)
    text = b if isinstance(b, str) else None

    def test(a: Any) -> bool:
        if isinstance(a, str):
            return text is not None and text in a
        return isinstance(a, list) and any(map(equal, a))

    return test


def _affix(b: Any, method: Callable[[str, str], bool]) -> _Test:
    if not isinstance(b, str):
        return _never
    return lambda a: isinstance(a, str) and method(a, b)


_POSITIVE: dict[str, Callable[[Any], _Test]] = {
    "==": _equal_to,
    ">": lambda b: _ordered(">", b),
    ">=": lambda b: _ordered(">=", b),
    "<": lambda b: _ordered("<", b),
    "<=": lambda b: _ordered("<=", b),
    "in": _member_of,
    "contains": _containing,
    "starts_with": lambda b: _affix(b, str.startswith),
    "ends_with": lambda b: _affix(b, str.endswith),
    "exists": lambda _: lambda _: True,
}


def _getter(field: str) -> Callable[[Mapping[str, Any]], list[Any]]:
    root, segments = split_path(field)
    if len(segments) == 1 and not segments[0].endswith("[]"):  # the common case: one key
        key = segments[0]

        def one(context: Mapping[str, Any]) -> list[Any]:
            top = context.get(root)
            value = top.get(key) if isinstance(top, Mapping) else None
            return [] if value is None else [value]

        return one
    return lambda context: resolve(field, context)


def compile_condition(field: str, operator: str, value: Any) -> Check:
    """One condition as a predicate over the action context; path and value are prepared once,
    so a campaign's conditions cost little per action."""
    found = _getter(field)
    if operator == "not_exists":
        return lambda context: not found(context)
    positive = NEGATIONS.get(operator, operator)
    make = _POSITIVE.get(positive)
    if make is None:
        return lambda _: False
    test = make(value)
    if positive != operator:  # a negation: the field must be present, and no value pass
        return lambda context: bool(values := found(context)) and not any(map(test, values))
    return lambda context: any(map(test, found(context)))


def evaluate(field: str, operator: str, value: Any, context: Mapping[str, Any]) -> bool:
    """Whether one condition holds for the action context (``data``, ``metadata``, ``user``)."""
    return compile_condition(field, operator, value)(context)
