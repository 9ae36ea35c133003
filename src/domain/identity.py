"""Normalising the identifiers users are looked up by, so one person has one spelling."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import phonenumbers

if TYPE_CHECKING:
    from src.domain.settings import OrgSettings

_PHONE_SHAPED = re.compile(r"\+[0-9 ().-]{6,30}")


def lookup_keys(ref: str) -> tuple[str | None, str | None]:
    """The email and the phone an action's ``userId`` is looked up by, when it is shaped like
    one (a phone must be international: ``+44…``)."""
    email = normalize_email(ref) if "@" in ref else None
    phone = normalize_phone(ref) if ref.lstrip().startswith("+") else None
    return email, phone


def contact_shaped(user_id: str) -> bool:
    """Whether an ID is, or looks like, an email or an international phone number. Such an ID
    may not name a platform user: platform IDs resolve first, so a user holding one would
    receive the rewards of the person whose email or phone it is."""
    if any(lookup_keys(user_id)):
        return True
    value = user_id.strip()
    digits = sum(c.isdigit() for c in value)
    return bool(_PHONE_SHAPED.fullmatch(value)) and 7 <= digits <= 15


def enrollable(user_id: str, settings: OrgSettings) -> bool:
    """Whether an action naming an unknown ``user_id`` enrols it as a new user."""
    return settings.unknown_users == "enroll" and not contact_shaped(user_id)


def normalize_email(value: str) -> str:
    return value.strip().lower()


def normalize_phone(value: str, region: str | None = None) -> str | None:
    """E.164 (``+442079460958``), or None when it is not a valid number.

    Without a leading ``+`` the org's ``phoneRegion`` (ISO 3166 code) says the country.
    """
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
