"""The API's look-up cache never lets a slow read undo a change it was told about, drops
only what a change names, and makes room by the least recently used entry."""

from __future__ import annotations

from src.store.cache import TTLCache


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


def test_the_least_recently_used_entry_makes_room() -> None:
    cache: TTLCache[str, str] = TTLCache(30, size=2)
    cache.put("a", "1", cache.generation)
    cache.put("b", "2", cache.generation)
    assert cache.get("a") == (True, "1")  # a is now the more recent
    cache.put("c", "3", cache.generation)
    assert [cache.get(k)[0] for k in "abc"] == [True, False, True]


def test_a_change_drops_what_it_names_only() -> None:
    cache: TTLCache[tuple[str, str], str] = TTLCache(30, owner=lambda key, _: key)
    for key in (("o1", "a"), ("o1", "b"), ("o2", "a")):
        cache.put(key, "v", cache.generation)
    before = cache.generation
    cache.forget("o1", "a")
    assert [cache.get(k)[0] for k in (("o1", "a"), ("o1", "b"), ("o2", "a"))] == [
        False,
        True,
        True,
    ]
    cache.put(("o1", "a"), "read before the change", before)  # a slow read stays out
    assert cache.get(("o1", "a")) == (False, None)
    cache.forget("o1")
    assert [cache.get(k)[0] for k in (("o1", "b"), ("o2", "a"))] == [False, True]
