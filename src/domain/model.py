"""The base of the domain models that are stored or sent as JSON with camelCase keys (campaign
definitions, org settings, an action's request): snake_case attributes in Python, camelCase in
what they read and write (``model_validate``, ``model_dump``, Temporal payloads), exactly as
0.5.0 stored them and the API names them, so a request body accepts its wire names only.

Models stored with snake_case keys (workflow inputs, plans, results) stay plain ``BaseModel``s:
an alias would rename what their histories hold."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, serialize_by_alias=True)
