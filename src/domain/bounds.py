"""Bounds on JSON a client sends: how deep, how many items, how long a string or key.

Whatever is accepted must also fit everything downstream (the workflow's data converter, the
database, condition evaluation), and no org's input may cost the service out of proportion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema


@dataclass(frozen=True)
class JsonBounds:
    depth: int = 32  # nested objects and arrays, counting the value itself as 1
    items: int = 1000  # elements of an array, keys of an object
    string: int = 16_384  # characters of a string value
    key: int = 256  # characters of an object key


DEFAULT = JsonBounds()


def _storable(text: str) -> str | None:
    """What keeps a string out of the database (and out of UTF-8), if anything."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not valid Unicode)"
    return None


def storable(text: str) -> str:
    """A string field's validator: the text can be stored."""
    problem = _storable(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def _plausible(moment: datetime) -> datetime:
    if not 1970 <= moment.year <= 9000:
        raise ValueError("must be between the years 1970 and 9000")
    return moment


def _not_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not true or false")
    return value


# An integer a client sends: JSON's true and false are not 1 and 0. A bounded one puts its
# Field(ge=, le=) before NOT_BOOLEAN, so the document says minimum/maximum (JSON Schema's
# words) rather than pydantic's ge/le, which validators and client generators ignore.
NOT_BOOLEAN = BeforeValidator(_not_boolean)
Whole = Annotated[int, NOT_BOOLEAN]
Stock = Annotated[int, Field(ge=0, le=2**31 - 1), NOT_BOOLEAN]


def _not_numeric_text(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("must be an ISO 8601 date and time (or Unix time as a JSON number)")
    return value


# A client's date and time: ISO 8601 with a time zone, or Unix time as a JSON number (seconds,
# or milliseconds past 2e10), within years any store can hold.
Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_not_numeric_text),
    AfterValidator(_plausible),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "description": "Unix time: seconds (milliseconds past 2e10)"},
            ]
        }
    ),
]


def _name(path: list[str]) -> str:
    shown = ".".join(path[:6])
    return f"{shown}…" if len(path) > 6 else shown


def violation(value: Any, bounds: JsonBounds = DEFAULT, root: str = "") -> dict[str, str] | None:
    """The first place ``value`` breaks ``bounds``, as ``{"field", "message"}``; else None.

    Iterative, so no input can exhaust the interpreter's stack.
    """
    stack: list[tuple[Any, list[str], int]] = [(value, [root] if root else [], 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if len(item) > bounds.string:
                return {"field": _name(path), "message": f"longer than {bounds.string} characters"}
            problem = _storable(item)
            if problem is not None:
                return {"field": _name(path), "message": problem}
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return {"field": _name(path), "message": "not a finite number"}
        if not isinstance(item, dict | list):
            continue
        if depth > bounds.depth:
            return {"field": _name(path), "message": f"nested deeper than {bounds.depth} levels"}
        if len(item) > bounds.items:
            return {"field": _name(path), "message": f"more than {bounds.items} items"}
        if isinstance(item, dict):
            for key, child in item.items():
                if len(key) > bounds.key:
                    return {"field": _name(path), "message": f"a key is longer than {bounds.key}"}
                problem = _storable(key)
                if problem is not None:
                    return {"field": _name(path), "message": f"a key {problem}"}
                stack.append((child, [*path, key], depth + 1))
        else:
            stack.extend((child, [*path, str(i)], depth + 1) for i, child in enumerate(item))
    return None
