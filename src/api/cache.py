"""A small time-bounded cache for per-request look-ups (API keys, trigger definitions)."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
MAX_ENTRIES = 10_000


class TTLCache(Generic[K, V]):
    """Entries expire after ``ttl`` seconds; a change to the source clears it in every API
    process (``api.invalidation``)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._entries.get(key)
        if hit is None or hit[1] < time.monotonic():
            return False, None
        return True, hit[0]

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (value, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()
