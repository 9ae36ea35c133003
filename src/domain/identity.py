"""Normalising the identifiers users are looked up by, so one person has one spelling."""

from __future__ import annotations

import phonenumbers


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
