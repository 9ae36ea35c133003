"""Encrypted Temporal payloads: nothing readable leaves this service for Temporal's database.

Workflow inputs, results and summaries carry user IDs (an email, when an integrator sends
one), discount codes and action data. Every payload is sealed with AES-256-GCM before it
reaches Temporal; the key ID travels in the payload's metadata, so keys rotate by adding one:
``PAYLOAD_KEYS="k2:<new>,k1:<old>"`` seals with ``k2`` and still opens what ``k1`` sealed.
Search attributes bypass codecs, so none of them names a person (see ``search_attributes``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from src.domain.sealing import NONCE_BYTES, parse_keys

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]], accept_unsealed: bool = True) -> None:
        self._sealing = keys[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}
        self._accept_unsealed = accept_unsealed

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        sealer = self._keys[self._sealing]
        aad = self._sealing.encode()
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = nonce + sealer.encrypt(nonce, payload.SerializeToString(), aad)
            sealed.append(Payload(metadata={"encoding": ENCODING, KEY_ID: aad}, data=data))
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Opens sealed payloads; others (recorded before encryption) pass as they are, unless
        unsealed payloads are refused (then nobody who merely reaches Temporal can feed the
        workers an input of their own)."""
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                if not self._accept_unsealed:
                    raise ValueError("unsealed payload refused (PAYLOAD_ACCEPT_UNSEALED=false)")
                opened.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            opener = self._keys.get(key_id)
            if opener is None:
                raise ValueError(f"payload sealed with unknown key '{key_id}'")
            nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
            try:
                plain = opener.decrypt(nonce, sealed, key_id.encode())
            except InvalidTag:
                raise ValueError(f"payload does not open with key '{key_id}'") from None
            opened.append(Payload.FromString(plain))
        return opened


def data_converter(payload_keys: str, accept_unsealed: bool = True) -> DataConverter:
    """Pydantic models in, sealed payloads out; failures' messages and stack traces (which may
    quote what failed) are moved into a payload and sealed too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(parse_keys(payload_keys), accept_unsealed),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
