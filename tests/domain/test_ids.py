"""Prefixed IDs: made and parsed in one place, an integer inside, ``txn_N`` on the wire."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from src.api.schemas.ids import TransactionId
from src.domain.effects import EffectResult
from src.domain.ids import TRANSACTION


class _Reply(BaseModel):
    id: TransactionId
    reverses: TransactionId | None = None


def test_a_transaction_id_round_trips() -> None:
    assert TRANSACTION.wire(1042) == "txn_1042"
    assert TRANSACTION.parse("txn_1042") == 1042
    assert TRANSACTION.parse(TRANSACTION.wire(10**18 - 1)) == 10**18 - 1  # fits a BIGINT


@pytest.mark.parametrize(
    "text",
    ["txn_", "txn_x1", "1042", "TXN_1042", "txn_-1", "txn_1 ", "evt_1042", "txn_" + "9" * 19],
)
def test_what_is_not_a_transaction_id_parses_to_none(text: str) -> None:
    assert TRANSACTION.parse(text) is None


def test_the_wire_type_is_an_integer_inside_and_prefixed_outside() -> None:
    reply = _Reply(id=7, reverses=3)
    assert reply.id == 7
    assert reply.model_dump(mode="json") == {"id": "txn_7", "reverses": "txn_3"}
    assert _Reply.model_validate({"id": "txn_7"}).id == 7  # a reply checked on its way out
    with pytest.raises(ValidationError, match="txn_1042"):
        _Reply.model_validate({"id": "cmp_7"})
    schema = _Reply.model_json_schema()["properties"]["id"]
    assert schema["type"] == "string"
    assert schema["pattern"] == TRANSACTION.pattern


def test_a_recorded_effect_result_keeps_its_prefixed_form() -> None:
    """Histories carry ``transactionId`` as ``txn_N``: the result still says it so."""
    result = EffectResult.granted("k", 12, None, None)
    assert result.model_dump()["transaction_id"] == "txn_12"
    assert EffectResult.model_validate(result.model_dump()).transaction == 12
    assert EffectResult(key="k", status="failed").transaction is None
