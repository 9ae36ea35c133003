"""Trigger definitions (guide "Step 1")."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from src.api.schemas.common import Body, Instant, Schema
from src.domain.triggers import StoredTrigger, TriggerDefinition, TriggerField

GUIDE_STEP_1: dict[str, Any] = {
    "key": "purchase_completed",
    "name": "Purchase Completed",
    "category": "commerce",
    "fields": [
        {"key": "amount", "type": "number", "description": "Purchase amount"},
        {"key": "currency", "type": "string"},
    ],
}


class TriggerBody(TriggerDefinition, Body):
    """The typed fields of an action's ``data``; conditions and actions are checked against
    them."""

    model_config = ConfigDict(json_schema_extra={"examples": [GUIDE_STEP_1]})


class TriggerOut(Schema):
    key: str
    name: str
    category: str | None
    fields: list[TriggerField]
    created_at: Instant
    updated_at: Instant

    @classmethod
    def of(cls, stored: StoredTrigger) -> TriggerOut:
        return cls(
            **stored.definition.model_dump(),
            created_at=stored.created_at,
            updated_at=stored.updated_at,
        )
