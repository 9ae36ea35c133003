"""The runnable shell examples of the README and the documentation, run as a reader runs them:
real bash and real curl against the API and worker, on an org of their own.

Each page's runnable blocks run in order in one shell, with BASE, SECRET and ORG exported for
a demo org seeded as `make dev` seeds it (and its credentials file where `make dev` writes it),
and the environment of the test stack, so `loyalty` commands reach the same database. curl is
wrapped to record each reply's status: every one must be a 2xx.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from src.cli.demo import ensure_demo
from src.config import Settings
from tests.docs.pages import ROOT, blocks, curls, pages
from tests.support import settings_env

RUNS = [page for page in pages() if any(block.runnable for block in blocks(page))]
# curl as the examples meet it: the real one, with each reply's status written to CURL_LOG.
WRAPPER = """#!/usr/bin/env bash
body=$(mktemp)
status=$("$REAL_CURL" --output "$body" --write-out '%{http_code}' "$@")
code=$?
cat "$body"
rm -f "$body"
args="$*"
printf '%s %s\\n' "${status:-000}" "${args//$'\\n'/ }" >> "$CURL_LOG"
exit $code
"""
WITHIN = 180  # seconds for a page's examples, waits for processing included


def script(page: Path) -> str:
    runnable = [block for block in blocks(page) if block.runnable]
    return "set -euo pipefail\n" + "".join(f"# {block.where}\n{block.text}" for block in runnable)


@pytest.mark.parametrize("page", RUNS, ids=lambda page: str(page.relative_to(ROOT)))
async def test_runnable_examples_succeed(
    page: Path, engine: AsyncEngine, base_url: str, settings: Settings, tmp_path: Path
) -> None:
    real_curl = shutil.which("curl")
    assert real_curl, "the examples need curl on PATH"
    creds = await ensure_demo(engine, tmp_path / ".loyalty" / "dev-credentials.json", base_url)
    wrapper = tmp_path / "bin" / "curl"
    wrapper.parent.mkdir()
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    log = tmp_path / "curl.log"
    env = settings_env(settings) | {
        "PATH": os.pathsep.join(
            [str(wrapper.parent), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        "REAL_CURL": real_curl,
        "CURL_LOG": str(log),
        "BASE": base_url,
        "SECRET": creds["apiSecret"],
        "ORG": creds["orgId"],
    }
    shell = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script(page),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # a page stuck waiting is stopped with what it started
    )
    try:
        out, _ = await asyncio.wait_for(shell.communicate(), WITHIN)
    except TimeoutError:
        os.killpg(shell.pid, signal.SIGKILL)
        out, _ = await shell.communicate()
        raise AssertionError(f"still running after {WITHIN}s:\n{out.decode()[-4000:]}") from None
    said = out.decode()
    replies = log.read_text().splitlines() if log.exists() else []
    assert shell.returncode == 0, f"exit {shell.returncode}:\n{said[-4000:]}\n" + "\n".join(
        replies[-5:]
    )
    refused = [reply for reply in replies if not reply.startswith("2")]
    assert refused == [], "\n".join(refused)
    expected = sum(len(curls(block.text)) for block in blocks(page) if block.runnable)
    assert len(replies) >= expected, said[-4000:]
    if page.name == "README.md":
        await rewarded_once(base_url, creds)


async def rewarded_once(base_url: str, creds: dict[str, str]) -> None:
    """The quickstart's purchase, sent twice under one Idempotency-Key on the seeded demo
    org, rewards its user once: 500 points, one badge, one code."""
    headers = {
        "Authorization": f"Bearer {creds['apiSecret']}",
        "X-Monterosa-Org-ID": creds["orgId"],
    }
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as http:
        user = (await http.get("/v1/users/user_123")).json()
        campaigns = (await http.get("/v1/campaigns")).json()["data"]
    assert user["balances"] == {"points": 500}
    assert user["products"] == [{"productId": "prod_vip_badge", "quantity": 1}]
    assert len(user["codes"]) == 1 and user["codes"][0].startswith("SAVE10-")
    assert [c["name"] for c in campaigns] == ["Reward Purchases Over $100"]
