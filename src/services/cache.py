"""A small time-bounded cache for per-request look-ups (API keys, trigger definitions)."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
MAX_ENTRIES = 10_000


class TTLCache(Generic[K, V]):
    """Entries expire after ``ttl`` seconds; a change to the source clears it in every API
    process (``api.invalidation``).

    A reader takes ``generation`` before reading the source and hands it to ``put``: a value
    read before a clear is then not stored, so a change can never be undone by a slow read.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.generation = 0
        self._entries: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._entries.get(key)
        if hit is None or hit[1] < time.monotonic():
            return False, None
        return True, hit[0]

    def put(self, key: K, value: V, generation: int) -> None:
        if generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (value, time.monotonic() + self.ttl)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
