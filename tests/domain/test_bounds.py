"""Bounds on a client's JSON, integers and moments, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from src.domain.bounds import JsonBounds, Moment, Stock, Whole, storable, violation

SMALL = JsonBounds(depth=3, items=2, string=5, key=4)


def test_json_within_bounds_passes_and_each_bound_names_its_place() -> None:
    assert violation({"a": [1, "abc"], "b": {"c": None}}, SMALL) is None
    assert violation({"a": {"b": {"c": 1}}}, SMALL) is None  # three containers deep
    assert violation({"a": {"b": {"c": {}}}}, SMALL) == {
        "field": "a.b.c",
        "message": "nested deeper than 3 levels",
    }
    assert violation([1, 2, 3], SMALL, root="data") == {
        "field": "data",
        "message": "more than 2 items",
    }
    assert violation({"a": "toolong"}, SMALL)["message"] == "longer than 5 characters"  # type: ignore[index]
    assert violation({"longkey": 1}, SMALL)["message"] == "a key is longer than 4"  # type: ignore[index]
    assert violation({"a": float("nan")}, SMALL)["message"] == "not a finite number"  # type: ignore[index]


def test_unstorable_text_is_refused_in_values_and_keys() -> None:
    assert violation({"a": "x\x00"})["message"] == "contains a NUL character"  # type: ignore[index]
    assert "unpaired surrogate" in violation({"\ud800": 1})["message"]  # type: ignore[index]
    assert storable("fine") == "fine"
    with pytest.raises(ValueError, match="NUL"):
        storable("\x00")


def test_depth_beyond_any_stack_is_judged_without_recursion() -> None:
    deep: dict[str, object] = {}
    for _ in range(100_000):
        deep = {"a": deep}
    assert violation(deep) is not None


class Numbers(BaseModel):
    whole: Whole = 0
    stock: Stock | None = None


def test_booleans_are_not_integers_and_bounds_hold() -> None:
    assert Numbers(whole=3, stock=0).stock == 0
    for bad in ({"whole": True}, {"stock": False}, {"stock": -1}, {"stock": 2**31}):
        with pytest.raises(ValidationError):
            Numbers.model_validate(bad)
    schema = Numbers.model_json_schema()["properties"]["stock"]["anyOf"][0]
    assert (schema["minimum"], schema["maximum"]) == (0, 2**31 - 1)


class When(BaseModel):
    at: Moment


def test_a_moment_is_zoned_iso_8601_or_unix_time_within_plausible_years() -> None:
    assert When(at="2026-12-04T10:00:00Z").at == datetime(2026, 12, 4, 10, tzinfo=UTC)  # type: ignore[arg-type]
    assert When(at=0).at == datetime(1970, 1, 1, tzinfo=UTC)  # type: ignore[arg-type]
    for bad in (
        "2026-12-04T10:00:00",
        "1700000000",
        "0001-01-01T00:00:00Z",
        "9999-01-01T00:00:00Z",
    ):
        with pytest.raises(ValidationError):
            When(at=bad)  # type: ignore[arg-type]
