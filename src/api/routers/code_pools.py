"""Code pools: unique codes that ``allocate_code`` effects hand out, imported or generated."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from src.api.auth import Principal, require
from src.api.body import parse, read_raw
from src.api.errors import ApiError, validation_error
from src.api.pagination import Cursor, Limit, page
from src.domain.bounds import JsonBounds, Moment
from src.domain.campaigns import Identifier, Name
from src.store import catalog
from src.store.tables import CodePool

router = APIRouter(prefix="/v1/code-pools", tags=["code-pools"])
MAX_CODES = 100_000
IMPORT_BYTES = 16 * 1024 * 1024
# No 0/O, 1/I/L: codes get read aloud and typed from receipts.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class PoolPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    expiresAt: Moment | None = None
    lowStockThreshold: int | None = Field(default=None, ge=0, le=2**31 - 1)


class PoolCreate(PoolPatch):
    id: Identifier | None = None
    name: Name


class CodeImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: list[str] = Field(min_length=1, max_length=MAX_CODES)


class Generate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=MAX_CODES)
    length: int = Field(default=10, ge=6, le=32)
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,16}$")


def _columns(body: PoolPatch) -> dict[str, Any]:
    names = {"name": "name", "expiresAt": "expires_at", "lowStockThreshold": "low_stock_threshold"}
    return {names[k]: v for k, v in body.model_dump(exclude_unset=True).items() if k in names}


async def _get(request: Request, org_id: str, pool_id: str) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        pool = await catalog.get_pool(conn, org_id, pool_id)
    if pool is None:
        raise ApiError(404, "not_found", f"code pool '{pool_id}' not found")
    return pool


@router.post("", status_code=201)
async def create_pool(
    request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> JSONResponse:
    body = await parse(request, PoolCreate)
    pool_id = body.id or f"pool_{secrets.token_hex(8)}"
    async with request.app.state.engine.begin() as conn:
        if not await catalog.create_item(
            conn, CodePool, principal.org_id, {"id": pool_id, **_columns(body)}
        ):
            raise ApiError(409, "conflict", f"code pool '{pool_id}' already exists")
    return JSONResponse(await _get(request, principal.org_id, pool_id), status_code=201)


@router.get("")
async def list_pools(
    request: Request,
    limit: int = Limit,
    cursor: str | None = Cursor,
    principal: Principal = Depends(require("campaigns:read")),
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        pools = await catalog.list_pools(conn, principal.org_id, cursor, limit + 1)
    return page(pools, limit, lambda p: p, lambda p: p["id"])


@router.get("/{pool_id}")
async def get_pool(
    pool_id: str, request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    return await _get(request, principal.org_id, pool_id)


@router.patch("/{pool_id}")
async def patch_pool(
    pool_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    changes = _columns(await parse(request, PoolPatch))
    if changes:
        async with request.app.state.engine.begin() as conn:
            if not await catalog.update_item(conn, CodePool, principal.org_id, pool_id, changes):
                raise ApiError(404, "not_found", f"code pool '{pool_id}' not found")
    return await _get(request, principal.org_id, pool_id)


@router.delete("/{pool_id}", status_code=204)
async def delete_pool(
    pool_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> Response:
    async with request.app.state.engine.begin() as conn:
        if not await catalog.delete_pool(conn, principal.org_id, pool_id):
            raise ApiError(404, "not_found", f"code pool '{pool_id}' not found")
    return Response(status_code=204)


def _csv_codes(raw: bytes, params: dict[str, str]) -> list[str]:
    """The first column of strict CSV (RFC 4180) in UTF-8; the first row is a header only
    when the request says so (``Content-Type: text/csv; header=present``). Any malformed row
    is a 422 naming its line."""
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        message = f"charset {charset} is not supported; send UTF-8"
        raise validation_error([{"field": "Content-Type", "message": message}])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"not valid UTF-8 (byte {exc.start})"
        raise validation_error([{"field": "body", "message": message}]) from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    codes = []
    try:
        for row in reader:
            if any(field.strip() for field in row):
                codes.append(row[0])
                if len(codes) > MAX_CODES + 1:  # one past a header: enough to refuse
                    break
    except csv.Error as exc:
        message = f"malformed CSV: {exc}"
        raise validation_error([{"field": f"line {reader.line_num}", "message": message}]) from exc
    if params.get("header", "absent").lower() == "present":
        codes = codes[1:]
    if not 1 <= len(codes) <= MAX_CODES:
        raise validation_error(
            [{"field": "codes", "message": f"1 to {MAX_CODES} codes per request"}]
        )
    return codes


async def _codes_from(request: Request) -> list[str]:
    """``{"codes": [...]}`` as JSON, or CSV (``_csv_codes``)."""
    kind, _, rest = request.headers.get("content-type", "").partition(";")
    if kind.strip().lower() == "text/csv":
        params = {}
        for param in rest.split(";"):
            name, _, value = param.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        raw = await read_raw(request, IMPORT_BYTES)
        return await asyncio.to_thread(_csv_codes, raw, params)  # 16 MiB: off the event loop
    return (await parse(request, CodeImport, IMPORT_BYTES, JsonBounds(items=MAX_CODES))).codes


async def _add(request: Request, org_id: str, pool_id: str, codes: list[str]) -> dict[str, Any]:
    """Add codes to the pool, within its size cap (``POOL_MAX_CODES``)."""
    cap = request.app.state.settings.pool_max_codes
    async with request.app.state.engine.begin() as conn:
        held = await catalog.lock_pool_size(conn, org_id, pool_id)
        if held is None:
            raise ApiError(404, "not_found", f"code pool '{pool_id}' not found")
        if held + len(codes) > cap:
            raise ApiError(
                409,
                "pool_full",
                f"code pool '{pool_id}' holds {held} codes; at most {cap} fit in one pool",
                {"codes": held, "max": cap},
            )
        added: set[str] = set()
        for start in range(0, len(codes), 10_000):
            added |= await catalog.import_codes(
                conn, org_id, pool_id, codes[start : start + 10_000]
            )
    seen: set[str] = set()
    duplicates = []
    for code in codes:  # repeated in this request, or already in the pool
        if code in seen or code not in added:
            duplicates.append(code)
        seen.add(code)
    return {
        "imported": len(added),
        "duplicateCount": len(codes) - len(added),
        "duplicates": duplicates[:100],
        "pool": await _get(request, org_id, pool_id),
    }


@router.post("/{pool_id}/codes", status_code=201)
async def import_codes(
    pool_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    """Up to 100,000 codes; ones already in the pool (or repeated) are reported, not fatal.

    Charged to the org's bulk budget, one unit per 1,000 codes.
    """
    codes = [c.strip() for c in await _codes_from(request)]
    bad = [i for i, c in enumerate(codes) if not 1 <= len(c) <= 128 or not c.isprintable()]
    if bad:
        message = "must be 1-128 printable characters"
        raise validation_error([{"field": f"codes.{i}", "message": message} for i in bad[:20]])
    await request.app.state.rate_limiter.charge_bulk(principal.org_id, len(codes))
    return await _add(request, principal.org_id, pool_id, codes)


def _generate(prefix: str, length: int, count: int) -> list[str]:
    return list(
        {prefix + "".join(secrets.choice(ALPHABET) for _ in range(length)) for _ in range(count)}
    )


@router.post("/{pool_id}/generate", status_code=201)
async def generate_codes(
    pool_id: str, request: Request, principal: Principal = Depends(require("campaigns:write"))
) -> dict[str, Any]:
    """``count`` new unique codes: ``prefix`` + ``length`` cryptographically random characters.

    Made off the event loop (so other requests go on meanwhile) and charged to the org's bulk
    budget, one unit per 1,000 codes.
    """
    body = await parse(request, Generate)
    if body.count * 1000 > len(ALPHABET) ** body.length:
        raise validation_error(
            [{"field": "length", "message": "too short for this many unique codes"}]
        )
    await request.app.state.rate_limiter.charge_bulk(principal.org_id, body.count)
    wanted, result = body.count, None
    while wanted:  # collisions with existing codes are astronomically rare; top up if any
        codes = await asyncio.to_thread(_generate, body.prefix, body.length, wanted)
        result = await _add(request, principal.org_id, pool_id, codes)
        wanted -= result["imported"]
    assert result is not None
    return {"generated": body.count, "pool": result["pool"]}
