"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from src.domain.errors import Conflict, DomainError, Invalid, NotFound, Refused, Unavailable
from src.store.db import sqlstate

log = logging.getLogger(__name__)
# A domain error's kind says its HTTP status; anything else the rules raise is a 422.
STATUS: dict[type[DomainError], int] = {
    Invalid: 422,
    NotFound: 404,
    Conflict: 409,
    Refused: 403,
    Unavailable: 503,
}


def status_of(exc: DomainError) -> int:
    return next((s for kind, s in STATUS.items() if isinstance(exc, kind)), 422)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status,
        headers=headers,
    )


def _methods(request: Request) -> list[str]:
    """The methods the API serves at the request's path, as its OpenAPI document lists them
    (each method is a route of its own, so the route that answered 405 knows only its own).
    A path written out in full stands for itself alone, as in OpenAPI."""
    paths: dict[str, dict[str, Any]] = request.app.openapi()["paths"]
    path = request.url.path
    if path in paths:
        return sorted(method.upper() for method in paths[path])
    found: set[str] = set()
    for template, operations in paths.items():
        if re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", template), path):
            found |= {method.upper() for method in operations}
    return sorted(found)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        retry = {"Retry-After": "1"} if isinstance(exc, Unavailable) else None
        return error_response(status_of(exc), exc.code, exc.message, exc.details, headers=retry)

    @app.exception_handler(ValidationError)
    async def _pydantic(request: Request, exc: ValidationError) -> JSONResponse:
        return await _domain(request, Invalid.of(exc))

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        invalid = Invalid.listed(exc.errors(), drop=("body", "query", "path", "header"))
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(
                400, "malformed_json", "request body is not valid JSON", invalid.details
            )
        if any(
            e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",)
            for e in exc.errors()
        ):
            return error_response(
                400, "malformed_json", "request body is empty; send a JSON object"
            )
        return await _domain(request, invalid)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # SQLSTATE class 22 is the client's data (a NUL byte, a number out of range): a 422.
        state = sqlstate(exc)
        if state.startswith("22"):  # the database's own words may quote stored data: not echoed
            return error_response(422, "invalid_value", "a value in the request cannot be stored")
        # A deadlock or serialization failure rolled the whole request back: safe to repeat.
        if state in ("40P01", "40001"):
            return error_response(
                503,
                "busy",
                "a concurrent change got in the way; nothing was changed, retry",
                headers={"Retry-After": "1"},
            )
        return await _unexpected(request, exc)

    @app.exception_handler(PoolTimeout)
    async def _pool(_: Request, _exc: PoolTimeout) -> JSONResponse:
        return error_response(
            503,
            "busy",
            "the service is busy; nothing was changed, retry",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's 400 is a body it could not parse (nested too deeply for its JSON reader).
        codes = {400: "malformed_json", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(_methods(request))
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error")
