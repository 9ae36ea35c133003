"""Users and the guide's identity look-up."""

from __future__ import annotations

from pydantic import Field, field_validator

from src.api.schemas.common import Amount, Body, ErrorDetail, Instant, Schema
from src.domain.identity import contact_shaped, normalize_email
from src.domain.users import UserView

Source = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
# A 409 shows who holds the value (to a key that may read users; else no name).
TAKEN = {
    409: {
        "emailTaken": ErrorDetail(
            code="conflict",
            message="user 'user_456' already has this id, email or phone",
            details={"userId": "user_456"},
        )
    }
}


class ExternalId(Body):
    """An integrator's own user ID, under the name of its system."""

    source: str = Source
    externalId: str = Field(min_length=1, max_length=255)


class Contact(Body):
    """Set or clear (``null``) email and phone (a phone without ``+`` uses the org's
    ``phoneRegion``)."""

    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=32)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalize_email(value) if value else value


class UserCreate(Contact):
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The platform user ID (default: generated); never an email or a phone.",
    )
    externalIds: list[ExternalId] = Field(default_factory=list, max_length=50)

    @field_validator("id")
    @classmethod
    def _not_contact(cls, value: str | None) -> str | None:
        if value is not None and contact_shaped(value):
            raise ValueError(
                "may not look like an email or a phone number (set those as email and phone)"
            )
        return value


class MergeBody(Body):
    fromUserId: str = Field(min_length=1, max_length=255)


class ExternalIdOut(Schema):
    source: str
    external_id: str


class ProductHeld(Schema):
    product_id: str
    quantity: int


class UserSummary(Schema):
    id: str
    email: str | None
    phone: str | None
    created_at: Instant


class UserOut(UserSummary):
    """A user with what it holds (``null`` where the key may not read users)."""

    external_ids: list[ExternalIdOut] | None
    balances: dict[str, Amount] | None = Field(description="By currency.")
    products: list[ProductHeld] | None
    codes: list[str] | None

    @classmethod
    def of(cls, user: UserView) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            phone=user.phone,
            created_at=user.created_at,
            external_ids=[ExternalIdOut(source=s, external_id=e) for s, e in user.external_ids],
            balances=user.balances,
            products=[ProductHeld(product_id=p, quantity=q) for p, q in user.products],
            codes=user.codes,
        )


class MergedOut(UserOut):
    merged_ledger_entries: int


class LookupOut(Schema):
    """The guide's ``{"userId": …}``."""

    user_id: str
    email: str | None
    phone: str | None
