"""Condition evaluation: table-driven cases and properties that must hold for any input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.domain.conditions import NEGATIONS, OPERATORS, evaluate, is_valid_path

CTX: dict[str, Any] = {
    "data": {
        "amount": 150,
        "price": 49.99,
        "currency": "USD",
        "flag": True,
        "tags": ["vip", "new"],
        "bits": [True, 2],
        "order": {"total": {"gross": "12"}},
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "empty": None,
        "date": "2025-10-06",
    },
    "metadata": {"source": "shopify", "storeId": "store_456"},
    "user": {"id": "user_123", "email": "a@b.c"},
}

CASES = [
    ("amount", ">=", 100, True),
    ("amount", ">=", 150, True),
    ("amount", ">", 150, False),
    ("amount", "<", 150.5, True),
    ("amount", "<=", 149, False),
    ("amount", "==", 150.0, True),
    ("amount", "==", "150", False),  # a string is not a number
    ("amount", ">", "100", False),  # mixed types never order
    ("amount", "!=", 99, True),
    ("data.amount", "==", 150, True),
    ("price", "==", Decimal("49.99"), True),
    ("price", ">", 49.98, True),
    ("currency", "==", "USD", True),
    ("currency", "==", "usd", False),
    ("currency", "in", ["EUR", "USD"], True),
    ("currency", "not_in", ["EUR", "USD"], False),
    ("currency", "in", "USD", False),  # in needs a list
    ("currency", "starts_with", "US", True),
    ("currency", "ends_with", "SD", True),
    ("currency", "contains", "S", True),
    ("amount", "starts_with", "1", False),
    ("tags", "contains", "vip", True),
    ("tags", "not_contains", "vip", False),
    ("tags", "not_contains", "gold", True),
    ("flag", "==", True, True),
    ("flag", "==", 1, False),  # booleans are not numbers
    ("flag", ">", 0, False),
    ("order.total.gross", "==", "12", True),
    ("order.total.net", "exists", None, False),
    ("order.total.net", "not_exists", None, True),
    ("empty", "exists", None, False),
    ("empty", "not_exists", None, True),
    ("missing", "!=", 1, False),  # a missing field fails all but not_exists
    ("missing", "not_in", [1], False),
    ("missing", "<", 1, False),
    ("items[].sku", "==", "B-2", True),
    ("items[].sku", "==", "C-3", False),
    ("items[].sku", "!=", "B-2", False),  # negation: no item is B-2
    ("items[].sku", "starts_with", "A", True),
    ("items[].qty", ">=", 2, True),
    ("items[].price", "exists", None, False),
    ("amount[].x", "exists", None, False),  # fan-out over a non-list is empty
    ("metadata.source", "==", "shopify", True),
    ("metadata.storeId", "in", ["store_456"], True),
    ("user.id", "==", "user_123", True),
    ("user.email", "ends_with", "@b.c", True),
    ("date", ">=", "2025-01-01", True),
    ("date", "<", "2025-10-06", False),
    ("bits", "==", [True, 2.0], True),  # lists compare item by item under the same rule
    ("bits", "==", [1, 2], False),  # ...so a boolean inside is not a number either
    ("bits", "in", [[True, 2]], True),
    ("bits", "in", [[1, 2]], False),
    ("order.total", "==", {"gross": "12"}, True),
    ("order", "==", {"total": {"gross": 12}}, False),
    ("tags", "contains", ["vip"], False),
]


@pytest.mark.parametrize(("field", "operator", "value", "expected"), CASES)
def test_condition_table(field: str, operator: str, value: Any, expected: bool) -> None:
    assert evaluate(field, operator, value, CTX) is expected


@pytest.mark.parametrize(
    "path", ["amount", "data.a.b", "metadata.source", "items[].sku", "user.id"]
)
def test_valid_paths(path: str) -> None:
    assert is_valid_path(path)


@pytest.mark.parametrize("path", ["", "a..b", "items[x]", "a.[]", "[]", "a]b"])
def test_invalid_paths(path: str) -> None:
    assert not is_valid_path(path)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.decimals(allow_nan=True),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=10,
)
paths = st.sampled_from(["amount", "a.b", "items[].sku", "metadata.source", "user.id", "x[].y[].z"])


@given(
    data=json_values, meta=json_values, op=st.sampled_from(OPERATORS), value=json_values, path=paths
)
def test_never_raises_and_returns_bool(
    data: Any, meta: Any, op: str, value: Any, path: str
) -> None:
    context = {"data": data, "metadata": meta, "user": {"id": "u"}}
    assert evaluate(path, op, value, context) in (True, False)


@given(
    data=st.dictionaries(st.sampled_from(["amount", "a"]), json_values, max_size=2),
    op=st.sampled_from(sorted(NEGATIONS)),
    value=json_values,
)
def test_negations_are_complements_on_present_fields(
    data: dict[str, Any], op: str, value: Any
) -> None:
    context = {"data": data}
    present = evaluate("amount", "exists", None, context)
    positive = evaluate("amount", NEGATIONS[op], value, context)
    negative = evaluate("amount", op, value, context)
    if op == "not_exists" or present:
        assert negative is not positive
    else:
        assert negative is False


@given(
    x=st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9
    ),
    y=st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9
    ),
)
def test_ordering_is_consistent(x: Decimal, y: Decimal) -> None:
    ctx = {"data": {"amount": x}}
    lt, eq, gt = (evaluate("amount", op, y, ctx) for op in ("<", "==", ">"))
    assert [lt, eq, gt].count(True) == 1
    assert evaluate("amount", "<=", y, ctx) == (lt or eq)
    assert evaluate("amount", ">=", y, ctx) == (gt or eq)
