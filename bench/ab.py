"""`make bench-ab [REV=HEAD~1]`: acceptance of this tree (B) against another revision (A), in
one run on one database and one Temporal server, rounds alternating A, B, A, B… so drift in a
noisy machine hits both alike. Prints each side's median and B ÷ A.

A is checked out with ``git worktree`` into a temporary directory and served from there; both
use this tree's migrated schema, so A must be a revision with the same migrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from bench.load import closed_loop
from bench.run import (
    ACTIONS,
    CLI,
    SECONDS,
    action,
    free_port,
    fresh_database,
    postgres_server,
    process,
    seed,
    wait_http,
)
from src.cli.devstack import address_of, temporal_dev_server
from src.domain.sealing import new_key
from src.store.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loyalty-ab-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), rev],
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )


async def measure(base: str, headers: dict[str, str]) -> tuple[float, float]:
    """(single actions/s at 16 in flight, batched actions/s at 4 in flight)."""
    url = f"{base}{ACTIONS}"
    batch_body = {"actions": [action(i) for i in range(100)]}
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(limit=64)
    ) as http:
        await closed_loop(http, url, action, 16, 1.0)  # warm-up
        single = await closed_loop(http, url, action, 16, SECONDS)
        batch = await closed_loop(http, f"{url}/batch", lambda _: batch_body, 4, SECONDS, 100)
    return single.rate, batch.rate


async def main(rev: str) -> None:
    with postgres_server() as server, checkout(rev) as tree:
        db_url, _ = await fresh_database(server)
        temporal = await temporal_dev_server()
        engine = make_engine(db_url, 2)
        try:
            org_id, secret = await seed(engine)
            headers = {"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": org_id}
            env = {
                "DATABASE_URL": db_url,
                "TEMPORAL_ADDRESS": address_of(temporal),
                "PAYLOAD_KEYS": new_key("bench"),
                "LOG_LEVEL": "WARNING",
            }
            figures: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
            for _ in range(ROUNDS):
                for side, root in (("A", tree), ("B", ROOT)):
                    port = free_port()
                    served = {**env, "API_PORT": str(port), "PYTHONPATH": str(root)}
                    async with process([*CLI, "api"], served, cwd=root):
                        await wait_http(f"http://127.0.0.1:{port}/healthz")
                        figures[side].append(await measure(f"http://127.0.0.1:{port}", headers))
        finally:
            await engine.dispose()
            await temporal.shutdown()
    print(f"A = {rev}, B = this tree; {ROUNDS} alternating rounds of {SECONDS:g} s, medians")
    print("| acceptance | A | B | B ÷ A |\n|---|---|---|---|")
    for index, name in enumerate(("single, 16 in flight", "batch of 100, 4 in flight")):
        a = statistics.median(f[index] for f in figures["A"])
        b = statistics.median(f[index] for f in figures["B"])
        print(f"| {name} (actions/s) | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"))
