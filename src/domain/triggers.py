"""Trigger definitions (integration guide, "Step 1: Create Custom Trigger")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.domain.actions import ACTION_PATTERN
from src.domain.conditions import OPERATORS, split_path

FieldType = Literal["number", "string", "boolean", "object", "array", "datetime"]


class TriggerField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=200)
    type: FieldType
    description: str | None = Field(default=None, max_length=1000)


class TriggerDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=ACTION_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    category: str | None = Field(default=None, max_length=100)
    fields: list[TriggerField] = Field(default_factory=list, max_length=200)


@dataclass(frozen=True)
class StoredTrigger:
    definition: TriggerDefinition
    created_at: datetime
    updated_at: datetime


_OPERATORS_BY_TYPE: dict[str, set[str]] = {
    "number": {"==", "!=", ">", ">=", "<", "<=", "in", "not_in"},
    "string": set(OPERATORS) - {"exists", "not_exists"},
    "datetime": {"==", "!=", ">", ">=", "<", "<=", "in", "not_in"},
    "boolean": {"==", "!="},
    "array": {"contains", "not_contains"},
    "object": set(),
}


def _value_fits(kind: str, value: Any) -> bool:
    """A condition's value against its field's type (an array field compares one element)."""
    if kind == "array":
        return any(_DATA_TYPES[k](value) for k in ("string", "number", "boolean"))
    return kind in _DATA_TYPES and kind != "object" and bool(_DATA_TYPES[kind](value))


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def declared_type(trigger: TriggerDefinition, field: str) -> str | bool | None:
    """The declared type of a condition's field; None if undeclared; True if not checkable
    (metadata/user paths, or paths below an object or array field)."""
    root, segments = split_path(field)
    if root != "data":
        return True
    fields = {f.key: f.type for f in trigger.fields}
    path = ".".join(s.removesuffix("[]") for s in segments)
    if path in fields:
        return fields[path]
    head = segments[0].removesuffix("[]")
    if fields.get(head) in ("object", "array"):
        return True
    return None


def condition_errors(
    rule_index: int, rule: Any, trigger: TriggerDefinition
) -> list[dict[str, str]]:
    """Conditions of one campaign trigger that name undeclared fields or misfit their type."""
    errors = []
    for j, condition in enumerate(rule.conditions):
        where = f"triggers.{rule_index}.conditions.{j}"
        kind = declared_type(trigger, condition.field)
        if kind is None:
            errors.append(
                {
                    "field": where,
                    "message": f"'{condition.field}' is not a field of "
                    f"trigger '{trigger.key}' (declared: "
                    f"{', '.join(f.key for f in trigger.fields) or 'none'})",
                }
            )
            continue
        if not isinstance(kind, str) or condition.operator in ("exists", "not_exists"):
            continue  # True: a path whose type is not checked
        if condition.operator not in _OPERATORS_BY_TYPE[kind]:
            errors.append(
                {
                    "field": where,
                    "message": f"operator '{condition.operator}' does not "
                    f"apply to {kind} field '{condition.field}'",
                }
            )
            continue
        values = condition.value if condition.operator in ("in", "not_in") else [condition.value]
        if not all(_value_fits(kind, v) for v in values):
            errors.append(
                {
                    "field": where,
                    "message": f"value {condition.value!r} does not fit "
                    f"{kind} field '{condition.field}'",
                }
            )
    return errors


_DATA_TYPES: dict[str, Any] = {
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "datetime": lambda v: isinstance(v, str) and _is_datetime(v),
}


def data_errors(trigger: TriggerDefinition, data: dict[str, Any]) -> list[dict[str, str]]:
    """Declared fields present in an action's ``data`` with the wrong type (absent is fine)."""
    errors = []
    for declared in trigger.fields:
        value: Any = data
        for part in declared.key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and not _DATA_TYPES[declared.type](value):
            errors.append(
                {
                    "field": f"data.{declared.key}",
                    "message": f"must be a {declared.type} (trigger '{trigger.key}' declares it)",
                }
            )
    return errors
