"""Trigger definitions: conditions checked against declared field types, and action data."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from src.domain.triggers import TriggerDefinition, condition_errors, data_errors, declared_type

TRIGGER = TriggerDefinition.model_validate(
    {
        "key": "purchase_completed",
        "name": "Purchase",
        "fields": [
            {"key": "amount", "type": "number"},
            {"key": "store", "type": "string"},
            {"key": "at", "type": "datetime"},
            {"key": "items", "type": "array"},
            {"key": "cart", "type": "object"},
        ],
    }
)


def rule(*conditions: tuple[str, str, Any]) -> Any:
    return SimpleNamespace(
        conditions=[SimpleNamespace(field=f, operator=o, value=v) for f, o, v in conditions]
    )


def test_declared_types_and_paths_that_cannot_be_checked() -> None:
    assert declared_type(TRIGGER, "data.amount") == "number"
    assert declared_type(TRIGGER, "data.cart.total") is True  # below an object field
    assert declared_type(TRIGGER, "metadata.source") is True
    assert declared_type(TRIGGER, "data.unknown") is None


def test_conditions_must_name_declared_fields_with_fitting_operators_and_values() -> None:
    good = rule(
        ("data.amount", ">=", 100),
        ("data.store", "in", ["a", "b"]),
        ("data.at", "<", "2026-01-01T00:00:00Z"),
        ("data.items", "contains", "sku1"),
        ("data.unknown_but_checked", "exists", None),
    )
    problems = condition_errors(0, good, TRIGGER)
    assert [p["field"] for p in problems] == ["triggers.0.conditions.4"]  # undeclared
    bad = rule(
        ("data.amount", "contains", 1), ("data.amount", ">=", "100"), ("data.at", ">", "soon")
    )
    messages = [p["message"] for p in condition_errors(2, bad, TRIGGER)]
    assert "does not apply to number field" in messages[0]
    assert all("does not fit" in m for m in messages[1:]) and len(messages) == 3


def test_action_data_of_the_wrong_type_is_named_and_absent_fields_are_fine() -> None:
    assert data_errors(TRIGGER, {"amount": 5, "items": []}) == []
    assert data_errors(TRIGGER, {}) == []
    assert [e["field"] for e in data_errors(TRIGGER, {"amount": "5", "at": 3, "cart": []})] == [
        "data.amount",
        "data.at",
        "data.cart",
    ]
    assert data_errors(TRIGGER, {"amount": True}) == [
        {
            "field": "data.amount",
            "message": "must be a number (trigger 'purchase_completed' declares it)",
        }
    ]
