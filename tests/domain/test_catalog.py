"""Products and code pools as pure rules: which product types exist, when a pool runs low, and
the alphabet generated codes are made of."""

from __future__ import annotations

import dataclasses
import string
from datetime import UTC, datetime
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.domain.catalog import CODE_ALPHABET, MAX_IMPORT, Imported, Pool, ProductType

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def pool(available: int, threshold: int | None, allocated: int = 0) -> Pool:
    return Pool(
        id="pool_1",
        name="Discounts",
        expires_at=None,
        low_stock_threshold=threshold,
        created_at=CREATED,
        available=available,
        allocated=allocated,
    )


def test_a_pool_runs_low_at_its_threshold_and_below() -> None:
    assert not pool(available=4, threshold=3).low_stock
    assert pool(available=3, threshold=3).low_stock  # reaching the threshold counts
    assert pool(available=0, threshold=3).low_stock
    assert pool(available=0, threshold=0).low_stock  # a threshold of 0: low once empty
    assert not pool(available=1, threshold=0).low_stock


@given(available=st.integers(0, 10**9), allocated=st.integers(0, 10**9))
def test_a_pool_without_a_threshold_never_runs_low(available: int, allocated: int) -> None:
    assert not pool(available, threshold=None, allocated=allocated).low_stock


@given(available=st.integers(0, 10**6), threshold=st.integers(0, 10**6))
def test_only_the_free_codes_decide_whether_a_pool_is_low(available: int, threshold: int) -> None:
    """Codes handed out already do not count against the threshold."""
    low = pool(available, threshold).low_stock
    assert low == (available <= threshold)
    assert pool(available, threshold, allocated=10**6).low_stock == low


def test_generated_codes_read_aloud_without_ambiguity() -> None:
    """Upper-case letters and digits, each once, none mistaken for another when read from a
    receipt: no 0/O and no 1/I/L."""
    assert len(set(CODE_ALPHABET)) == len(CODE_ALPHABET)
    assert set(CODE_ALPHABET) <= set(string.ascii_uppercase + string.digits)
    assert set(CODE_ALPHABET).isdisjoint("0O1IL")
    assert set(CODE_ALPHABET) == set(string.ascii_uppercase + string.digits) - set("0O1IL")
    # The shortest code the API generates (6 characters) still has room for a full import
    # a thousand times over: the generator's uniqueness check passes at MAX_IMPORT.
    assert len(CODE_ALPHABET) ** 6 >= MAX_IMPORT * 1000


def test_the_product_types() -> None:
    assert set(get_args(ProductType)) == {"badge", "merchandise", "ticket", "entry"}


def test_pools_and_import_results_are_values() -> None:
    """Frozen: what a service returns is not changed on the way out."""
    low = pool(available=1, threshold=2)
    result = Imported(imported=1, duplicate_count=1, duplicates=["A"], pool=low)
    with pytest.raises(dataclasses.FrozenInstanceError):
        low.available = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.imported = 2  # type: ignore[misc]
    assert result.pool.low_stock
    assert dataclasses.replace(low, available=3).low_stock is False
