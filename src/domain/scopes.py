"""What an API key may do. ``admin`` holds every scope."""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "actions:write": "post actions and see how they were processed",
    "actions:read": "see what an action carried (its userId, data and metadata)",
    "actions:reverse": "reverse any action of the org, not only those this key posted",
    "users:read": "see users' personal data, balances, products and codes",
    "users:write": "create and edit users and their external IDs",
    "users:admin": "merge and erase users",
    "campaigns:read": "read triggers, campaigns, products, code pools; simulate",
    "campaigns:write": "change them",
    "transactions:read": "read ledgers (a code in them needs users:read too)",
    "admin": "API keys and org settings; every scope",
}
ADMIN = "admin"


def holds(scopes: frozenset[str], scope: str) -> bool:
    return scope in scopes or ADMIN in scopes
