"""Cursor pagination: ``?limit=&cursor=`` in, ``{"data": [...], "nextCursor": …}`` out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import Query

T = TypeVar("T")

Limit = Query(50, ge=1, le=200, description="Page size.")
Cursor = Query(None, max_length=300, description="`nextCursor` of the previous page.")


def page(
    rows: Sequence[T],
    limit: int,
    render: Callable[[T], dict[str, Any]],
    cursor_of: Callable[[T], str],
) -> dict[str, Any]:
    """``rows`` holds up to ``limit + 1`` items; the extra one only says another page exists."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return {
        "data": [render(r) for r in items],
        "nextCursor": cursor_of(items[-1]) if more and items else None,
    }
