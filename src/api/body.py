"""Reading request bodies with a size cap and exact, field-naming errors."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.errors import ApiError, error_response
from src.domain.actions import MAX_BODY_BYTES
from src.domain.bounds import DEFAULT, JsonBounds, violation
from src.domain.errors import Invalid

Model = TypeVar("Model", bound=BaseModel)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is out of range")
    return value


async def read_raw(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes."""
    too_large = ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(
    request: Request, limit: int = MAX_BODY_BYTES, bounds: JsonBounds | None = DEFAULT
) -> Any:
    """The body as JSON within ``limit`` bytes and ``bounds`` (None: the model bounds what it
    holds, as actions do, so a batch can refuse one item alone); anything else is a 4xx."""
    raw = await read_raw(request, limit)
    if not raw.strip():
        raise ApiError(400, "malformed_json", "request body is empty; send a JSON object")
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ApiError(400, "malformed_json", "request body is nested too deeply") from exc
    found = None if bounds is None else violation(body, bounds)
    if found is not None:
        raise Invalid.field(found["field"] or "body", found["message"])
    return body


async def parse(
    request: Request,
    model: type[Model],
    limit: int = MAX_BODY_BYTES,
    bounds: JsonBounds | None = DEFAULT,
) -> Model:
    body = await read_json(request, limit, bounds)
    if not isinstance(body, dict):
        raise Invalid.field("body", "must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise Invalid.of(exc) from exc


class BodyLimit:
    """ASGI middleware: a request body past its route's limit is a 413 before anyone reads it
    whole (``limits``: path patterns to bytes; else ``default``)."""

    def __init__(self, app: ASGIApp, default: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.limits = [(re.compile(pattern), limit) for pattern, limit in limits.items()]

    def _limit(self, path: str) -> int:
        return next(
            (limit for pattern, limit in self.limits if pattern.fullmatch(path)), self.default
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes")
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> ASGIApp:
    return error_response(413, "payload_too_large", f"request body exceeds {limit} bytes")
