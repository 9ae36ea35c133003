"""Rows leave the store as frozen dataclasses (domain objects, or the store's own), never as
``Row`` objects whose columns the caller has to know."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar, Protocol, TypeVar


class _Dataclass(Protocol):
    __dataclass_fields__: ClassVar[dict[str, Any]]


Record = TypeVar("Record", bound=_Dataclass)


def record(cls: type[Record], row: Any) -> Record:
    """``row`` (a ``Row``, or a mapped object) as ``cls``, each field taken from the column
    (or label) of its name."""
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def records(cls: type[Record], rows: Any) -> list[Record]:
    return [record(cls, row) for row in rows]
