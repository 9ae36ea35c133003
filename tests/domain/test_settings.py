"""An org's settings: what they accept, and what an unreadable stored value falls back to."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from src.domain.settings import OrgSettings

REFUND = {"reverses": "purchase_completed", "match": "data.orderId"}


def test_defaults_and_an_iana_time_zone() -> None:
    settings = OrgSettings()
    assert (settings.unknown_users, settings.timezone, settings.reversal_actions) == (
        "skip",
        "UTC",
        {},
    )
    assert str(OrgSettings(timezone="Europe/London").zone) == "Europe/London"
    for zone in ("localtime", "../etc/passwd", "Mars/Olympus"):
        with pytest.raises(ValidationError, match="time zone"):
            OrgSettings(timezone=zone)


def test_a_refund_type_may_not_reverse_a_refund_type() -> None:
    """Two refunds naming each other would each wait for the other to settle."""
    assert OrgSettings(reversalActions={"purchase_refunded": REFUND}).reversal_actions
    looped = {"a_refund": {**REFUND, "reverses": "b_refund"}, "b_refund": REFUND}
    with pytest.raises(ValidationError, match="a refund type too"):
        OrgSettings.model_validate({"reversalActions": looped})
    with pytest.raises(ValidationError, match="not an action type"):
        OrgSettings.model_validate({"reversalActions": {"bad name!": REFUND}})


def test_stored_settings_keep_what_still_reads_and_default_the_rest() -> None:
    """A rule tightened since a value was stored resets that key alone."""
    stored = {"unknownUsers": "enroll", "timezone": "Not/AZone", "futureKey": 1}
    settings = OrgSettings.of(stored)
    assert (settings.unknown_users, settings.timezone) == ("enroll", "UTC")
    assert OrgSettings.of(None) == OrgSettings()
