"""A small time-bounded cache for per-request look-ups (API keys, trigger definitions)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
MAX_ENTRIES = 10_000


class TTLCache(Generic[K, V]):
    """Entries expire after ``ttl`` seconds and the least recently used one makes room for a
    new one; a change to the source drops what it names in every API process
    (``api.invalidation``): one entry, or one org's (``owner`` says whose an entry is, as
    ``(org ID, what)``), never every org's.

    A reader takes ``generation`` before reading the source and hands it to ``put``: a value
    read before a drop is then not stored, so a change can never be undone by a slow read.
    """

    def __init__(
        self,
        ttl: float,
        owner: Callable[[K, V], tuple[str, str]] | None = None,
        size: int = MAX_ENTRIES,
    ) -> None:
        self.ttl = ttl
        self.owner = owner
        self.size = size
        self.generation = 0
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._entries.get(key)
        if hit is None or hit[1] < time.monotonic():
            return False, None
        self._entries.move_to_end(key)
        return True, hit[0]

    def put(self, key: K, value: V, generation: int) -> None:
        if generation != self.generation:
            return
        self._entries[key] = (value, time.monotonic() + self.ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)

    def forget(self, org_id: str, what: str | None = None) -> None:
        """Drop the org's entry for ``what`` (all the org's when None)."""
        if self.owner is None:
            raise RuntimeError("a cache without owners is cleared whole")
        self.generation += 1
        gone = []
        for key, (value, _) in self._entries.items():
            org, name = self.owner(key, value)
            if org == org_id and (what is None or name == what):
                gone.append(key)
        for key in gone:
            del self._entries[key]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
