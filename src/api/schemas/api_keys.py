"""API keys."""

from __future__ import annotations

from pydantic import Field, field_validator

from src.api.schemas.common import Body, Instant, Schema
from src.domain.bounds import Whole
from src.domain.scopes import SCOPES


class KeyCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(
        min_length=1, max_length=len(SCOPES), json_schema_extra={"items": {"enum": list(SCOPES)}}
    )

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scope '{unknown[0]}'; one of {', '.join(SCOPES)}")
        return sorted(set(scopes))


class KeyRotate(Body):
    graceSeconds: Whole = Field(default=86_400, ge=0, le=30 * 86_400)


class KeyIssued(Schema):
    """A new key: its secret is shown now and never again."""

    id: str
    secret: str
    name: str
    scopes: list[str]


class KeyRotated(Schema):
    id: str
    secret: str
    replaces: str
    old_key_expires_at: Instant


class KeyOut(Schema):
    id: str
    name: str
    scopes: list[str]
    created_at: Instant
    expires_at: Instant | None
    revoked_at: Instant | None
    replaced_by: str | None
