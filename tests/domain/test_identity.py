"""How users are looked up and enrolled by the identifiers actions name."""

from __future__ import annotations

from src.domain.identity import contact_shaped, enrollable, lookup_keys, normalize_phone
from src.domain.settings import OrgSettings


def test_emails_and_international_phones_are_normalised_for_look_up() -> None:
    assert lookup_keys(" Dana@Example.COM ") == ("dana@example.com", None)
    assert lookup_keys("+44 20 7946 0958") == (None, "+442079460958")
    assert lookup_keys("user-42") == (None, None)
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert normalize_phone("12") is None


def test_ids_shaped_like_contacts_are_never_enrolled() -> None:
    """A platform ID that is someone's email or phone would take that person's rewards."""
    enroll = OrgSettings(unknownUsers="enroll")
    assert enrollable("user-42", enroll)
    assert not enrollable("user-42", OrgSettings())
    for contact in ("dana@example.com", "+44 20 7946 0958", "+1 (555) 010-9999"):
        assert contact_shaped(contact) and not enrollable(contact, enroll)
