"""OpenAPI links: how the ID a create route returns addresses the routes of what it created.

Generated clients and ``schemathesis`` (stateful phase) follow them. Only where the created ID
is the whole address: a merge or an external ID's removal also names another user or ID, so a
link to them would mostly lead to a 404 about that one. Listings link nowhere on purpose: a key
listed is a key a client could revoke by walking the list.
"""

from __future__ import annotations

from typing import Any

# Source operation -> (its success status, the reply field holding the ID, the path
# parameter it fills, the operations it addresses).
LINKS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "sendAction": ("202", "eventId", "event_id", ("getAction", "replayAction")),
    "createUser": (
        "201",
        "id",
        "user_id",
        (
            "getUser",
            "getAudienceUser",
            "updateUser",
            "addExternalId",
            "eraseUser",
        ),
    ),
    "createCampaign": (
        "201",
        "id",
        "campaign_id",
        (
            "getCampaign",
            "updateCampaign",
            "listCampaignVersions",
            "activateCampaign",
            "pauseCampaign",
            "archiveCampaign",
            "getCampaignAnalytics",
        ),
    ),
    "createTrigger": ("201", "key", "key", ("getTrigger", "replaceTrigger", "deleteTrigger")),
    "createProduct": (
        "201",
        "id",
        "product_id",
        ("getProduct", "updateProduct", "deleteProduct"),
    ),
    "createCodePool": (
        "201",
        "id",
        "pool_id",
        ("getCodePool", "updateCodePool", "importCodes", "generateCodes", "deleteCodePool"),
    ),
    "createApiKey": ("201", "id", "key_id", ("rotateApiKey", "revokeApiKey")),
}


def add_links(schema: dict[str, Any]) -> None:
    """Write ``LINKS`` into the document's responses."""
    operations = {
        op["operationId"]: op for path in schema["paths"].values() for op in path.values()
    }
    for source, (status, field, parameter, targets) in LINKS.items():
        response = operations[source]["responses"][status]
        response["links"] = {
            target: {
                "operationId": target,
                "parameters": {parameter: f"$response.body#/{field}"},
            }
            for target in targets
        }
