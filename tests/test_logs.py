"""The log scrubber: the net below the rule that personal data is never logged."""

from __future__ import annotations

from src.logs import scrub


def test_emails_and_phones_are_replaced() -> None:
    said = "no user 'dana.x+1@example.co.uk' (call +44 7700 900123) or +15551234567."
    assert scrub(said) == "no user '[email]' (call [phone]) or [phone]."


def test_ids_times_and_amounts_are_kept() -> None:
    said = "evt_1f2e at 2026-11-26T10:00:00+00:00: 500 points, key@host, cmp:1:+2"
    assert scrub(said) == said
