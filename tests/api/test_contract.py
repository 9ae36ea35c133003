"""The published contract, held against the running app: schemathesis (every check, every
phase, stateful links) with the repository's ``schemathesis.toml``, and the document itself
through ``openapi-spec-validator``."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
from openapi_spec_validator import validate
from sqlalchemy.ext.asyncio import AsyncEngine

from src.store import orgs
from tests.support import make_tenant

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Commands whose path says it all.
BODYLESS = {"replayAction", "activateCampaign", "pauseCampaign", "archiveCampaign"}


async def test_document_is_valid_openapi(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        document = (await http.get("/openapi.json")).json()
    validate(document)
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert success, where
            assert all("content" in operation["responses"][s] for s in success if s != "204"), where
            if method in ("post", "put", "patch") and operation["operationId"] not in BODYLESS:
                assert "requestBody" in operation, where


async def test_schemathesis_finds_nothing(base_url: str, engine: AsyncEngine) -> None:
    """Zero failures; run from a subdirectory, so the root ``schemathesis.toml`` is found the
    way a developer's run finds it."""
    fuzz = await make_tenant(engine, base_url)
    await fuzz.http.aclose()
    async with engine.begin() as conn:
        await orgs.set_rate_limit(conn, fuzz.org_id, 1_000_000, 1_000_000)
    env = {
        **os.environ,
        "LOYALTY_API_URL": base_url,
        "LOYALTY_API_SECRET": fuzz.secret,
        "LOYALTY_ORG_ID": fuzz.org_id,
        "NO_COLOR": "1",
    }
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/openapi.json",
        cwd=ROOT / "tests",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-20_000:]
