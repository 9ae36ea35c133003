"""What every resource's models share: camelCase on the wire, amounts and times as the API has
always written them, pages, and the one error body."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, ClassVar, Generic, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from src.api.schemas.links import add_links
from src.domain.bounds import DEFAULT, JsonBounds, violation
from src.domain.errors import Invalid

T = TypeVar("T")


class Schema(BaseModel):
    """Snake_case in Python, camelCase on the wire; built from rows and domain objects."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


# A field a body may leave out (to leave a value as it is) but not send as null.
Omittable = SkipJsonSchema[None]
_SKIPPED = get_args(Omittable)[1]  # the marker in each ``Omittable`` annotation


class Body(BaseModel):
    """A request body: exactly its declared fields, named as on the wire, within the JSON
    bounds (depth, sizes, storable text: ``src/domain/bounds.py``), and no ``null`` for an
    ``Omittable`` field."""

    model_config = ConfigDict(extra="forbid")
    bounds: ClassVar[JsonBounds] = DEFAULT

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        found = violation(data, cls.bounds)
        if found is not None:
            raise Invalid.fields([{"field": found["field"] or "body", "message": found["message"]}])
        if isinstance(data, dict):
            nulls = [name for name in _omittable(cls) if name in data and data[name] is None]
            if nulls:
                message = "may be left out, but not null"
                raise Invalid.fields([{"field": name, "message": message} for name in nulls])
        return data


@cache
def _omittable(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(
        field.alias or name
        for name, field in model.model_fields.items()
        if any(
            get_origin(arg) is Annotated and _SKIPPED in get_args(arg)[1:]
            for arg in get_args(field.annotation)
        )
    )


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# A ledger amount: an integer when whole, else the nearest float (as every reply has written it).
Amount = Annotated[
    Decimal,
    PlainSerializer(_number, when_used="json"),
    WithJsonSchema({"type": "number"}),
]
# ISO 8601 with the offset written out (``+00:00``), as every reply has written it.
Instant = Annotated[
    datetime,
    PlainSerializer(lambda moment: moment.isoformat(), when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Page(Schema, Generic[T]):
    """One page of a list; ``nextCursor`` (null on the last page) fetches the next."""

    data: list[T]
    next_cursor: str | None = None


class FieldError(Schema):
    field: str
    message: str


class ErrorDetail(Schema):
    code: str
    message: str
    details: list[FieldError] | dict[str, Any] | None = None


class ErrorBody(Schema):
    """Every failure: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


_WHY = {
    400: "The body is not JSON (`malformed_json`).",
    401: "Missing or wrong credentials (`unauthorized`).",
    403: "The key belongs to another org, lacks the scope, or the org's settings refuse it.",
    404: "No such resource in this org (`not_found`).",
    409: "Conflicts with the resource's state, or an identifier is taken.",
    413: "The body, or what it asks for, is too large.",
    422: "A field breaks a rule; `details` name each field.",
    429: "A rate limit (`Retry-After` says when to retry).",
    503: "A concurrent change got in the way, or a backend did not answer; retry.",
}
AUTHENTICATED = (401, 403, 429, 503)


def errors(
    *statuses: int, examples: dict[int, dict[str, ErrorDetail]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for a route's failures: its own, and every authenticated route's;
    ``examples`` show a status's business-rule failures by name."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, *AUTHENTICATED}):
        response: dict[str, Any] = {"model": ErrorBody, "description": _WHY[status]}
        named = (examples or {}).get(status)
        if named:
            shown = {
                name: {"value": {"error": detail.model_dump(mode="json")}}
                for name, detail in named.items()
            }
            response["content"] = {"application/json": {"examples": shown}}
        responses[status] = response
    return responses


# Bodies a route reads itself (a fast path, or JSON-or-CSV) are published all the same.
PUBLISHED: dict[str, type[BaseModel]] = {}


def request_body(model: type[BaseModel], csv: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON body of a route that parses its body
    itself (``csv``: what a ``text/csv`` body holds, when that is accepted too)."""
    PUBLISHED[model.__name__] = model
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    }
    if csv is not None:
        content["text/csv"] = {"schema": {"type": "string", "description": csv}}
    return {"requestBody": {"required": True, "content": content}}


SECURITY_SCHEMES: dict[str, Any] = {
    "apiSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "The API key's secret: `Authorization: Bearer <secret>`.",
    },
    "orgId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Monterosa-Org-ID",
        "description": "The organisation the key belongs to.",
    },
}


def _error(status: int) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ErrorBody"}
    return {"description": _WHY[status], "content": {"application/json": {"schema": schema}}}


_RECEIVED = (
    "Received. Any 2xx counts (its body is not read beyond 4 KiB); anything else, a redirect "
    "or no reply within the timeout is retried with the same `webhook-id`."
)


def publish(schema: dict[str, Any]) -> dict[str, Any]:
    """Finish FastAPI's OpenAPI document: the bodies routes read themselves, the two headers
    every authenticated route needs as security schemes, the one error body in place of
    FastAPI's own validation-error model (which this API never sends), and the replies a
    webhook receiver gives."""
    components = schema.setdefault("components", {})
    models = components.setdefault("schemas", {})
    for name, model in PUBLISHED.items():
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        models.update(found.pop("$defs", {}))
        models[name] = found
    components["securitySchemes"] = SECURITY_SCHEMES
    models.pop("HTTPValidationError", None)
    models.pop("ValidationError", None)
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        responses = operation["responses"]
        if "401" in responses:
            operation["security"] = [{name: [] for name in SECURITY_SCHEMES}]
        if "requestBody" in operation:  # unreadable, or past the route's size limit
            for status in ("400", "413"):
                responses.setdefault(status, _error(int(status)))
        if "422" in responses:  # FastAPI's own model out, named examples kept
            shown = responses["422"].get("content", {}).get("application/json", {})
            responses["422"] = _error(422)
            if "examples" in shown:
                responses["422"]["content"]["application/json"]["examples"] = shown["examples"]
    for hook in schema.get("webhooks", {}).values():  # requests we send: the receiver replies
        for operation in hook.values():
            operation["responses"] = {"2XX": {"description": _RECEIVED}}
    add_links(schema)
    return schema
