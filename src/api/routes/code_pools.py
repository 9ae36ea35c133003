"""Code pools: unique codes that ``allocate_code`` effects hand out, imported or generated."""

from __future__ import annotations

import asyncio
import csv
import io

from fastapi import APIRouter, Request, Response

from src.api.body import parse, read_raw
from src.api.deps import CampaignsRead, CampaignsWrite, EngineDep, LimiterDep, SettingsDep
from src.api.pagination import Cursor, Limit, page
from src.api.schemas.catalog import (
    CodeImport,
    Generate,
    GenerateOut,
    ImportOut,
    PoolCreate,
    PoolOut,
    PoolPatch,
)
from src.api.schemas.common import Page, errors, request_body
from src.domain.catalog import MAX_IMPORT
from src.domain.errors import Invalid
from src.services import catalog

router = APIRouter(prefix="/v1/code-pools", tags=["code-pools"])
IMPORT_BYTES = 16 * 1024 * 1024
CSV_BODY = (
    "Codes in the first column of UTF-8 CSV (RFC 4180); the first row is a header only with "
    "`Content-Type: text/csv; header=present`."
)


@router.post(
    "",
    status_code=201,
    response_model=PoolOut,
    operation_id="createCodePool",
    responses=errors(409, 413, 422),
)
async def create_pool(body: PoolCreate, principal: CampaignsWrite, engine: EngineDep) -> PoolOut:
    values = {"id": body.id or catalog.new_pool_id(), **body.changes()}
    return PoolOut.of(await catalog.create_pool(engine, principal.org_id, values))


@router.get("", response_model=Page[PoolOut], operation_id="listCodePools", responses=errors(422))
async def list_pools(
    principal: CampaignsRead, engine: EngineDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[PoolOut]:
    pools = await catalog.pools_page(engine, principal.org_id, cursor, limit + 1)
    return page(pools, limit, PoolOut.of, lambda p: p.id)


@router.get("/{pool_id}", response_model=PoolOut, operation_id="getCodePool", responses=errors(404))
async def get_pool(pool_id: str, principal: CampaignsRead, engine: EngineDep) -> PoolOut:
    return PoolOut.of(await catalog.get_pool(engine, principal.org_id, pool_id))


@router.patch(
    "/{pool_id}",
    response_model=PoolOut,
    operation_id="updateCodePool",
    responses=errors(404, 413, 422),
)
async def patch_pool(
    pool_id: str, body: PoolPatch, principal: CampaignsWrite, engine: EngineDep
) -> PoolOut:
    return PoolOut.of(await catalog.change_pool(engine, principal.org_id, pool_id, body.changes()))


@router.delete("/{pool_id}", status_code=204, operation_id="deleteCodePool", responses=errors(404))
async def delete_pool(pool_id: str, principal: CampaignsWrite, engine: EngineDep) -> Response:
    """Removes the pool and its free codes; allocated codes stay in the ledger."""
    await catalog.delete_pool(engine, principal.org_id, pool_id)
    return Response(status_code=204)


def _csv_codes(raw: bytes, params: dict[str, str]) -> list[str]:
    """The first column of strict CSV (RFC 4180) in UTF-8; the first row is a header only
    when the request says so. Any malformed row is a 422 naming its line."""
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise Invalid.field("Content-Type", f"charset {charset} is not supported; send UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid.field("body", f"not valid UTF-8 (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    codes = []
    try:
        for row in reader:
            if any(field.strip() for field in row):
                codes.append(row[0])
                if len(codes) > MAX_IMPORT + 1:  # one past a header: enough to refuse
                    break
    except csv.Error as exc:
        raise Invalid.field(f"line {reader.line_num}", f"malformed CSV: {exc}") from exc
    if params.get("header", "absent").lower() == "present":
        codes = codes[1:]
    if not 1 <= len(codes) <= MAX_IMPORT:
        raise Invalid.field("codes", f"1 to {MAX_IMPORT} codes per request")
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
    return (await parse(request, CodeImport, IMPORT_BYTES, bounds=None)).codes


@router.post(
    "/{pool_id}/codes",
    status_code=201,
    response_model=ImportOut,
    operation_id="importCodes",
    responses=errors(400, 404, 409, 413, 422),
    openapi_extra=request_body(CodeImport, csv=CSV_BODY),
)
async def import_codes(
    pool_id: str,
    request: Request,
    principal: CampaignsWrite,
    engine: EngineDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> ImportOut:
    """Up to 100,000 codes; ones already in the pool (or repeated) are reported, not fatal.

    Charged to the org's bulk budget, one unit per 1,000 codes.
    """
    codes = catalog.check_codes(await _codes_from(request))
    await limiter.charge_bulk(principal.org_id, len(codes))
    imported = await catalog.add_codes(
        engine, principal.org_id, pool_id, codes, settings.pool_max_codes
    )
    return ImportOut.of(imported)


@router.post(
    "/{pool_id}/generate",
    status_code=201,
    response_model=GenerateOut,
    operation_id="generateCodes",
    responses=errors(404, 409, 413, 422),
)
async def generate_codes(
    pool_id: str,
    body: Generate,
    principal: CampaignsWrite,
    engine: EngineDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> GenerateOut:
    """``count`` new unique codes: ``prefix`` + ``length`` cryptographically random characters
    (no 0/O, 1/I/L). Charged to the org's bulk budget, one unit per 1,000 codes."""
    await limiter.charge_bulk(principal.org_id, body.count)
    pool = await catalog.generate(
        engine,
        principal.org_id,
        pool_id,
        body.count,
        body.length,
        body.prefix,
        settings.pool_max_codes,
    )
    return GenerateOut(generated=body.count, pool=PoolOut.of(pool))
