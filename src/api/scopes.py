"""Scopes as data: which scope each route needs, and which reply fields need a scope beyond it.

A route's scope lets a key call it; the table below says what its reply may then show. A field
whose scope the key lacks is replied as ``null``: personal data, balances, products and codes
need ``users:read``, what an action carried needs ``actions:read``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from src.api.auth import Principal


@dataclass(frozen=True)
class Guard:
    scope: str
    # Guards only the items this holds for (None: all of them).
    when: Callable[[dict[str, Any]], bool] | None = None


def _names_a_user_fact(condition: dict[str, Any]) -> bool:
    return str(condition.get("field", "")).startswith("user.")


USER_DATA = "users:read"
ACTION_DATA = "actions:read"

# Reply kind -> field path ("[]" steps into each element of a list) -> what shows it.
REPLY_FIELDS: dict[str, dict[str, Guard]] = {
    "user": {
        "email": Guard(USER_DATA),
        "phone": Guard(USER_DATA),
        "externalIds": Guard(USER_DATA),
        "balances": Guard(USER_DATA),
        "products": Guard(USER_DATA),
        "codes": Guard(USER_DATA),
    },
    "event": {
        "resolvedUserId": Guard(USER_DATA),  # else posting an email would look its user up
        "userId": Guard(ACTION_DATA),
        "data": Guard(ACTION_DATA),
        "metadata": Guard(ACTION_DATA),
        # A refund's reason is the client's text (or names the refund action's event).
        "reversals[].reason": Guard(ACTION_DATA),
        # What a user lost, as what a user holds: users:read.
        "reversals[].takenBack.productIds": Guard(USER_DATA),
        "reversals[].takenBack.revokedCodes": Guard(USER_DATA),
    },
    "reversal": {
        "takenBack.productIds": Guard(USER_DATA),
        "takenBack.revokedCodes": Guard(USER_DATA),
    },
    "transaction": {"code": Guard(USER_DATA)},
    "transactions": {"data[].code": Guard(USER_DATA)},
    "simulation": {
        "user.resolvedUserId": Guard(USER_DATA),
        "campaigns[].triggers[].conditions[].resolved": Guard(USER_DATA, _names_a_user_fact),
    },
}


def _hide(node: Any, path: list[str], guard: Guard, parent: dict[str, Any] | None) -> None:
    if not path:
        return
    step, rest = path[0], path[1:]
    if step.endswith("[]"):
        items = node.get(step[:-2]) if isinstance(node, dict) else None
        for item in items or []:
            _hide(item, rest, guard, item if isinstance(item, dict) else None)
        return
    if not isinstance(node, dict) or step not in node:
        return
    if rest:
        _hide(node[step], rest, guard, node[step] if isinstance(node[step], dict) else None)
    elif guard.when is None or (parent is not None and guard.when(parent)):
        node[step] = None


def visible(principal: Principal, kind: str, reply: BaseModel) -> dict[str, Any]:
    """``reply`` as on the wire, with every field the principal's scopes do not show null."""
    wire = reply.model_dump(mode="json", by_alias=True)
    for path, guard in REPLY_FIELDS[kind].items():
        if not principal.holds(guard.scope):
            _hide(wire, path.split("."), guard, wire)
    return wire
