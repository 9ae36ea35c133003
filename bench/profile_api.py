"""`python -m bench.profile_api single|batch [SECONDS]`: where the API spends its CPU under the
acceptance load of `bench.ab` (16 single actions, or 4 batches of 100, in flight), sampled by
py-spy (`pip install py-spy`; not a dependency) at 200 Hz from every thread of one
`loyalty api` process. Writes py-spy's collapsed stacks to `bench/results/api-<mode>.txt` and
prints the accepted rate and each frame's share of the samples (inclusive, then its own)."""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import sys
from pathlib import Path

import aiohttp

from bench.load import closed_loop
from bench.run import (
    ACTIONS,
    CLI,
    action,
    free_port,
    fresh_database,
    postgres_server,
    process,
    seed,
    stack_env,
    wait_http,
)
from src.cli.devstack import address_of, temporal_dev_server
from src.store.db import make_engine

RESULTS = Path(__file__).parent / "results"
SHOWN = 30


def shares(stacks: Path) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """(samples, inclusive count per frame, own count per frame) of collapsed stacks."""
    total, inclusive, own = 0, collections.Counter[str](), collections.Counter[str]()
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r"\(.*/(site-packages|python3\.\d+)/", "(", f) for f in stack.split(";")]
        total += int(count)
        inclusive.update(dict.fromkeys(frames, int(count)))
        own[frames[-1]] += int(count)
    return total, inclusive, own


async def main(mode: str, seconds: float) -> None:
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    out = RESULTS / f"api-{mode}.txt"
    with postgres_server() as server:
        db_url, _ = await fresh_database(server)
        temporal = await temporal_dev_server()
        engine = make_engine(db_url, 2)
        try:
            org_id, secret = await seed(engine)
            port = free_port()
            env = stack_env(db_url, address_of(temporal), port, "bench")
            headers = {"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": org_id}
            url = f"http://127.0.0.1:{port}{ACTIONS}"
            batch = {"actions": [action(i) for i in range(100)]}
            async with (
                process([*CLI, "api"], env) as pid,
                aiohttp.ClientSession(
                    headers=headers, connector=aiohttp.TCPConnector(limit=64)
                ) as http,
            ):
                await wait_http(f"http://127.0.0.1:{port}/healthz")
                await closed_loop(http, url, action, 16, 2.0)  # warm-up
                args = ["record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200"]
                sampling = await asyncio.create_subprocess_exec(
                    *[spy, *args, "-f", "raw", "-o", str(out), "--nonblocking"],
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                if mode == "single":
                    load = await closed_loop(http, url, action, 16, seconds)
                else:
                    load = await closed_loop(http, f"{url}/batch", lambda _: batch, 4, seconds, 100)
                await sampling.wait()
        finally:
            await engine.dispose()
            await temporal.shutdown()
    total, inclusive, own = shares(out)
    print(f"{mode}: {load.rate:,.0f} actions/s; {total} samples in {out}")
    for title, counts in (("inclusive", inclusive), ("own", own)):
        print(f"--- {title}")
        for frame, count in counts.most_common(SHOWN):
            print(f"{100 * count / total:5.1f}% {frame[:140]}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 15.0))
