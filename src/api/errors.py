"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from src.domain.errors import DomainError
from src.store.db import sqlstate

log = logging.getLogger(__name__)


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


def field_errors(errors: list[Any], drop_prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Pydantic errors as ``[{"field": "data.amount", "message": …}]``."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        while loc and loc[0] in drop_prefix:
            loc = loc[1:]
        message = str(err.get("msg", "invalid"))
        out.append({"field": ".".join(loc) or "body", "message": message})
    return out


def validation_error(errors: list[dict[str, str]]) -> ApiError:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ApiError(422, "validation_failed", f"{first['field']}: {first['message']}{more}", errors)


def from_pydantic(exc: ValidationError) -> ApiError:
    return validation_error(field_errors(exc.errors()))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(ValidationError)
    async def _pydantic(_: Request, exc: ValidationError) -> JSONResponse:
        err = from_pydantic(exc)
        return error_response(err.status, err.code, err.message, err.details)

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = field_errors(list(exc.errors()), drop_prefix=("body", "query", "path", "header"))
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, "malformed_json", "request body is not valid JSON", details)
        err = validation_error(details)
        return error_response(err.status, err.code, err.message, err.details)

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
    async def _pool(_: Request, exc: PoolTimeout) -> JSONResponse:
        return error_response(
            503,
            "busy",
            "the service is busy; nothing was changed, retry",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error")
