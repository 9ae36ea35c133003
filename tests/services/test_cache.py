"""The API's look-up cache never lets a slow read undo a change it was told about."""

from __future__ import annotations

from src.services.cache import TTLCache


def test_a_read_begun_before_a_clear_is_not_stored() -> None:
    cache: TTLCache[str, str] = TTLCache(30)
    before = cache.generation
    cache.clear()  # a change notice arrives while the reader awaits the database
    cache.put("key", "as it was before the change", before)
    assert cache.get("key") == (False, None)
    cache.put("key", "fresh", cache.generation)
    assert cache.get("key") == (True, "fresh")


def test_entries_expire() -> None:
    cache: TTLCache[str, str] = TTLCache(-1)  # already past its time
    cache.put("key", "value", cache.generation)
    assert cache.get("key") == (False, None)
