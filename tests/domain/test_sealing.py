"""Sealed secrets open only with a key that sealed them, on the row they were sealed for, and
not once a byte is changed."""

from __future__ import annotations

import base64

import pytest

from src.domain.sealing import PREFIX, Sealer, new_key, parse_keys


def test_sealed_text_opens_only_as_it_was_sealed() -> None:
    old, new = new_key("old"), new_key("new")
    before = Sealer(parse_keys(old))
    sealed = before.seal("whsec_abc", "webhook:wh_1")
    assert sealed.startswith(f"{PREFIX}old:") and "whsec_abc" not in sealed
    after = Sealer(parse_keys(f"{new},{old}"))
    assert after.open(sealed, "webhook:wh_1") == "whsec_abc"  # rotated: the old key still opens
    assert after.key_of(after.seal("x", "c")) == "new"
    data = bytearray(base64.b64decode(sealed.rpartition(":")[2]))
    data[-1] ^= 1
    tampered = sealed.rpartition(":")[0] + ":" + base64.b64encode(bytes(data)).decode()
    for bad, context in (
        (tampered, "webhook:wh_1"),
        (sealed, "webhook:wh_2"),
        ("whsec_abc", "webhook:wh_1"),
        (sealed.rpartition(":")[0] + ":not base64!", "webhook:wh_1"),
        (sealed.replace(":old:", ":old:junk:"), "webhook:wh_1"),
    ):
        with pytest.raises(ValueError):
            after.open(bad, context)
    with pytest.raises(ValueError):
        Sealer(parse_keys(new)).open(sealed, "webhook:wh_1")
    with pytest.raises(ValueError, match="twice"):
        parse_keys(f"{new},{new_key('new')}")


def test_resealing_moves_values_onto_the_first_key() -> None:
    old, new = new_key("old"), new_key("new")
    sealed = Sealer(parse_keys(old)).seal("whsec_abc", "c")
    after = Sealer(parse_keys(f"{new},{old}"))
    moved = after.reseal(sealed, "c")
    assert moved is not None and after.key_of(moved) == "new"
    assert after.reseal(moved, "c") is None
    clear = after.reseal("whsec_abc", "c")  # stored before secrets were sealed
    assert clear is not None and after.open(clear, "c") == "whsec_abc"
