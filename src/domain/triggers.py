"""Trigger definitions (integration guide, "Step 1: Create Custom Trigger")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from src.domain.actions import ACTION_PATTERN

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
