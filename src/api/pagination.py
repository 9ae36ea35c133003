"""Cursor pagination: ``?limit=&cursor=`` in, ``{"data": [...], "nextCursor": …}`` out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Query

from src.api.schemas.common import Page

T = TypeVar("T")
Out = TypeVar("Out")

Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=300, description="`nextCursor` of the previous page.")
]


def page(
    rows: Sequence[T], limit: int, render: Callable[[T], Out], cursor_of: Callable[[T], str]
) -> Page[Out]:
    """``rows`` holds up to ``limit + 1`` items; the extra one only says another page exists."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page[Out](
        data=[render(r) for r in items],
        next_cursor=cursor_of(items[-1]) if more and items else None,
    )
