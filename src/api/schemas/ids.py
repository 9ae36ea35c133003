"""Prefixed IDs on the wire (``domain.ids``): an integer inside the service, ``txn_1042`` in
requests, replies and the document, where each is a string with its pattern."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from src.domain.ids import TRANSACTION, Prefixed


def _wire_type(ids: Prefixed, example: int) -> Any:
    def number(value: object) -> object:
        """A prefixed ID is parsed; anything else is left to the integer check."""
        if isinstance(value, str):
            parsed = ids.parse(value)
            if parsed is None:
                raise ValueError(f"not an ID of the form {ids.wire(example)}")
            return parsed
        return value

    return Annotated[
        int,
        BeforeValidator(number),
        PlainSerializer(ids.wire, return_type=str),
        WithJsonSchema({"type": "string", "pattern": ids.pattern, "examples": [ids.wire(example)]}),
    ]


TransactionId = _wire_type(TRANSACTION, 1042)
