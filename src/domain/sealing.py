"""The deployment's payload keys (``PAYLOAD_KEYS``), and sealing small secrets with them.

One key list serves Temporal payloads (``src/workflows/codec.py``) and secrets the service must
read back in clear, such as webhook signing secrets: a copy of the database alone then signs
nothing. A sealed value names its key, so keys rotate by putting a new one first; what the old
one sealed still opens until it is sealed again (``loyalty reseal``).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
PREFIX = "sealed:v1:"


def parse_keys(text: str) -> list[tuple[str, bytes]]:
    """``id:base64key[,id:base64key…]``, the first sealing, all opening; a ValueError names
    what is wrong."""
    keys: list[tuple[str, bytes]] = []
    for entry in filter(None, (e.strip() for e in text.split(","))):
        key_id, _, encoded = entry.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"payload key '{key_id}' is not base64") from None
        if not key_id or len(key) != 32:
            raise ValueError(f"payload key '{key_id}' must be 'id:<32 bytes, base64>'")
        if key_id in dict(keys):
            raise ValueError(f"payload key '{key_id}' is listed twice")
        keys.append((key_id, key))
    if not keys:
        raise ValueError("no payload key given")
    return keys


def new_key(key_id: str | None = None) -> str:
    """A fresh ``id:base64key`` entry for PAYLOAD_KEYS."""
    key_id = key_id or f"k{secrets.token_hex(3)}"
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class Sealer:
    """AES-256-GCM over short text, bound to a context (the row it belongs to), so a sealed
    value copied onto another row does not open there."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        self.sealing = keys[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}

    def seal(self, plain: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        aad = f"{self.sealing}|{context}".encode()
        data = nonce + self._keys[self.sealing].encrypt(nonce, plain.encode(), aad)
        return f"{PREFIX}{self.sealing}:{base64.b64encode(data).decode()}"

    @staticmethod
    def _parts(sealed: str) -> tuple[str, str]:
        """``sealed:v1:<key id>:<base64>``, nothing else."""
        parts = sealed.removeprefix(PREFIX).split(":")
        if not sealed.startswith(PREFIX) or len(parts) != 2 or not all(parts):
            raise ValueError("value is not sealed")
        return parts[0], parts[1]

    def key_of(self, sealed: str) -> str:
        return self._parts(sealed)[0]

    def reseal(self, value: str, context: str) -> str | None:
        """``value`` sealed with the first key, or None when it already is; a value stored in
        clear (before secrets were sealed) is sealed too."""
        if not value.startswith(PREFIX):
            return self.seal(value, context)
        if self.key_of(value) == self.sealing:
            return None
        return self.seal(self.open(value, context), context)

    def open(self, sealed: str, context: str) -> str:
        key_id, encoded = self._parts(sealed)
        opener = self._keys.get(key_id)
        if opener is None:
            raise ValueError(f"value sealed with unknown key '{key_id}'")
        try:
            data = base64.b64decode(encoded, validate=True)
            aad = f"{key_id}|{context}".encode()
            return opener.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad).decode()
        except (binascii.Error, InvalidTag):
            raise ValueError(f"value does not open with key '{key_id}' here") from None
