"""`make soak`: the whole stack (API, worker and codec endpoint in processes of their own, the
Temporal dev server on a WAL file as under `make dev`, PostgreSQL) under an open-loop load at
half the drain rate it measures first, for SOAK_SECONDS (600 by default).

The mix, over 10,000 users: single actions that match nothing or a points campaign, batches,
reviews that win a badge of limited stock (so some events fail and are replayed), refunds of
earlier purchases, and a webhook subscriber on 127.0.0.1 that answers 500 to one delivery in
ten and slowly to one in twenty. A 503 ``busy`` is retried by the load and counted apart.

It judges what a long run shows and a short one cannot: resident memory of our processes at
most 10% above its first minute's, a bounded backlog, POST → settled p99 of the last minute
within 2x of the first's, nothing lost, nothing granted twice, no 5xx but ``busy``. The
figures per minute go to bench/results/soak.json and are drawn in bench/results/soak.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.cpu import children_named, members
from bench.receiver import receiver
from bench.run import (
    ACTIONS,
    CLI,
    drain_ours,
    free_port,
    fresh_database,
    postgres_pid,
    postgres_server,
    process,
    stack_env,
    wait_http,
)
from src.cli.devstack import address_of, temporal_dev_server
from src.domain.scopes import SCOPES
from src.store import keys, orgs, users
from src.store.db import make_engine
from src.store.tables import Event

RESULTS = Path(__file__).parent / "results"
SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
MINUTE = float(os.environ.get("SOAK_MINUTE", "60"))  # the judging period (shorter for a try)
USERS = 10_000
CALIBRATION = 1000
TERMINAL = ("processed", "failed", "skipped")
RNG = random.Random(7)


@dataclass
class Load:
    """What the load sent and saw: every accepted event with its POST time, refundable
    purchases, replies by status."""

    posted: dict[str, float] = field(default_factory=dict)
    purchases: list[str] = field(default_factory=list)  # order IDs of matching purchases
    replies: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    busy: int = 0
    replayed: set[str] = field(default_factory=set)  # their rows change again when replayed


def pick(i: int, load: Load) -> dict[str, Any]:
    """One action of the mix."""
    user = f"u{RNG.randrange(USERS)}"
    roll = RNG.random()
    if roll < 0.05 and load.purchases:
        order = load.purchases.pop(RNG.randrange(len(load.purchases)))
        return {"userId": user, "action": "purchase_refunded", "data": {"orderId": order}}
    if roll < 0.10:
        return {"userId": user, "action": "review_submitted", "data": {"stars": 5}}
    order = f"o{i}"
    matching = roll < 0.30
    if matching:
        load.purchases.append(order)
    return {
        "userId": user,
        "action": "purchase_completed",
        "data": {"amount": 150 if matching else 5, "orderId": order},
    }


async def post(http: aiohttp.ClientSession, url: str, body: Any, load: Load) -> list[str]:
    """POST until it is not ``busy``; the event IDs it was accepted as."""
    posted = time.time()
    for _ in range(20):
        async with http.post(url, json=body) as reply:
            load.replies[reply.status] += 1
            found = await reply.json(content_type=None)
            if reply.status == 503 and found.get("error") == "busy":
                load.busy += 1
                await asyncio.sleep(0.2)
                continue
            if reply.status != 202:
                return []
        if "results" in found:
            ids = [r["eventId"] for r in found["results"] if r.get("eventId")]
        else:
            ids = [found["eventId"]]
        for event_id in ids:
            load.posted[event_id] = posted
        return ids
    return []


async def offer(
    http: aiohttp.ClientSession, engine: AsyncEngine, base: str, rate: float, load: Load
) -> None:
    """The open loop: an action (or, one time in ten, a batch of ten) every 1/rate s on
    schedule, whatever the replies take; a replay of a failed event every 30 s."""
    started, i = time.perf_counter(), 0
    tasks: set[asyncio.Task[Any]] = set()
    replay_at = 30.0
    while (now := time.perf_counter() - started) < SECONDS:
        if RNG.random() < 0.1:
            body: Any = {"actions": [pick(i + k, load) for k in range(10)]}
            url, i = f"{base}{ACTIONS}/batch", i + 10
        else:
            body, url, i = pick(i, load), f"{base}{ACTIONS}", i + 1
        task = asyncio.create_task(post(http, url, body, load))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if now >= replay_at:
            replay_at += 30
            replay = asyncio.create_task(replay_failed(http, engine, base, load))
            tasks.add(replay)
            replay.add_done_callback(tasks.discard)
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
    await asyncio.gather(*tasks)


async def replay_failed(
    http: aiohttp.ClientSession, engine: AsyncEngine, base: str, load: Load
) -> None:
    """Replay five failed events, as a developer would after finding them in the Temporal
    UI's list of failed actions."""
    async with engine.connect() as conn:
        failed = list(
            await conn.scalars(
                select(Event.id).where(Event.status == "failed").order_by(func.random()).limit(5)
            )
        )
    for event_id in failed:
        async with http.post(f"{base}{ACTIONS}/{event_id}/replay") as r:
            load.replies[r.status] += 1
            if r.status == 202:
                load.replayed.add(event_id)


async def flaky(request: web.Request) -> web.Response:
    """500 to one delivery in ten, 2 s late to one in twenty, else 204 at once."""
    await request.read()
    roll = RNG.random()
    if roll < 0.1:
        return web.Response(status=500)
    if roll < 0.15:
        await asyncio.sleep(2)
    return web.Response(status=204)


async def seed(engine: AsyncEngine) -> tuple[str, str]:
    async with engine.begin() as conn:
        org_id = await orgs.create(conn, "soak")
        _, secret = await keys.create(conn, org_id, "soak", list(SCOPES))
        await orgs.set_rate_limit(conn, org_id, 1_000_000, 1_000_000)
        for i in range(USERS):
            await users.insert_user(conn, org_id, f"u{i}", None, None)
    return org_id, secret


async def configure(http: aiohttp.ClientSession, base: str, hook: str) -> None:
    """Campaigns (points for purchases of 100 or more, a badge of 200 in stock per review),
    refunds reversing purchases, and the webhook on every grant and failure."""
    reverses = {"reverses": "purchase_completed", "match": "data.orderId"}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("PATCH", "/v1/org/settings", {"reversalActions": {"purchase_refunded": reverses}}),
        ("POST", "/v1/products", {"id": "badge", "name": "Badge", "type": "badge", "stock": 200}),
        (
            "POST",
            "/v1/campaigns",
            {
                "name": "points",
                "triggers": [
                    {
                        "type": "purchase_completed",
                        "conditions": [{"field": "amount", "operator": ">=", "value": 100}],
                    }
                ],
                "effects": [{"type": "add_points", "config": {"amount": 10}}],
            },
        ),
        (
            "POST",
            "/v1/campaigns",
            {
                "name": "badge",
                "triggers": [{"type": "review_submitted"}],
                "effects": [{"type": "award_product", "config": {"productId": "badge"}}],
            },
        ),
        ("POST", "/v1/webhooks", {"url": hook, "events": ["reward.granted", "event.failed"]}),
    ]
    for method, path, body in calls:
        async with http.request(method, f"{base}{path}", json=body) as r:
            assert r.status < 300, f"{method} {path}: {r.status} {await r.text()}"


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, MB."""
    total = 0
    for member in members([pid]):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
    return round(total / 1024, 1)


async def backlog(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count()).select_from(Event).where(Event.status.not_in(TERMINAL))
            )
            or 0
        )


async def sample(
    engine: AsyncEngine, pids: dict[str, int], minutes: list[dict[str, Any]], load: Load
) -> None:
    """Every MINUTE: memory of each process, the backlog now, replies so far."""
    started = time.perf_counter()
    while True:
        await asyncio.sleep(MINUTE - (time.perf_counter() - started) % MINUTE)
        minutes.append(
            {
                "minute": len(minutes) + 1,
                "rss_mb": {name: rss_mb(pid) for name, pid in pids.items()},
                "backlog": await backlog(engine),
                "accepted": len(load.posted),
                "busy": load.busy,
            }
        )


async def settle_all(engine: AsyncEngine, load: Load, within: float = 900) -> dict[str, float]:
    """Wait for every accepted event to settle; each one's settle time (its row's last update)."""
    deadline = time.perf_counter() + within
    ids = list(load.posted)
    while True:
        settled: dict[str, float] = {}
        async with engine.connect() as conn:
            for start in range(0, len(ids), 5000):
                rows = await conn.execute(
                    select(Event.id, Event.updated_at).where(
                        Event.id.in_(ids[start : start + 5000]), Event.status.in_(TERMINAL)
                    )
                )
                settled |= {r.id: r.updated_at.timestamp() for r in rows}
        if len(settled) == len(ids) or time.perf_counter() > deadline:
            return settled
        await asyncio.sleep(1)


async def ledger_checks(engine: AsyncEngine, org_id: str) -> dict[str, int]:
    """Grants against accepted events: none twice, none for an event that was never
    accepted, and every balance the sum of its ledger."""
    async with engine.connect() as conn:
        twice = await conn.scalar(
            text(
                """SELECT count(*) FROM (SELECT event_id, effect_index FROM ledger
                   WHERE org_id = :org AND type IN ('points', 'product') AND reverses_id IS NULL
                   GROUP BY event_id, effect_index HAVING count(*) > 1) d"""
            ),
            {"org": org_id},
        )
        unknown = await conn.scalar(
            text(
                """SELECT count(DISTINCT l.event_id) FROM ledger l
                   LEFT JOIN events e ON e.id = l.event_id
                   WHERE l.org_id = :org AND l.event_id IS NOT NULL AND e.id IS NULL"""
            ),
            {"org": org_id},
        )
        off = await conn.scalar(
            text(
                """SELECT count(*) FROM (SELECT b.user_id FROM balances b
                   LEFT JOIN ledger l ON l.org_id = b.org_id AND l.user_id = b.user_id
                        AND l.currency = b.currency AND l.amount IS NOT NULL
                        AND l.type IN ('points', 'reversal')
                   WHERE b.org_id = :org GROUP BY b.user_id, b.currency, b.balance
                   HAVING b.balance <> COALESCE(sum(l.amount), 0)) d"""
            ),
            {"org": org_id},
        )
    return {
        "granted_twice": int(twice or 0),
        "granted_for_unknown_events": int(unknown or 0),
        "balances_not_their_ledger": int(off or 0),
    }


def per_minute(
    minutes: list[dict[str, Any]], load: Load, settled: dict[str, float], t0: float
) -> None:
    """Each minute's POST → settled p50/p99, of the events posted in it (but those replayed,
    whose row's last change is their replay's)."""
    by_minute: dict[int, list[float]] = defaultdict(list)
    for event_id, posted in load.posted.items():
        if event_id in settled and event_id not in load.replayed:
            by_minute[int((posted - t0) // MINUTE)].append((settled[event_id] - posted) * 1000)
    for row in minutes:
        latencies = sorted(by_minute.get(row["minute"] - 1, [])) or [float("nan")]
        row["settle_p50_ms"] = round(statistics.median(latencies), 1)
        row["settle_p99_ms"] = round(latencies[max(0, int(0.99 * len(latencies)) - 1)], 1)


def judge(report: dict[str, Any]) -> dict[str, bool]:
    minutes = report["minutes"]
    first, last = minutes[0], minutes[-1]
    ours = ("api", "worker", "codec")
    return {
        "memory_within_10_percent": all(
            last["rss_mb"][p] <= 1.1 * first["rss_mb"][p] for p in ours
        ),
        "backlog_bounded": max(m["backlog"] for m in minutes[len(minutes) // 2 :])
        <= max(2 * max(m["backlog"] for m in minutes[: len(minutes) // 2]), 100),
        "p99_within_2x": last["settle_p99_ms"] <= 2 * first["settle_p99_ms"],
        "nothing_lost": report["lost"] == 0,
        "nothing_granted_twice": report["ledger"]["granted_twice"] == 0
        and report["ledger"]["granted_for_unknown_events"] == 0
        and report["ledger"]["balances_not_their_ledger"] == 0,
        "no_5xx_but_busy": report["replies_5xx_not_busy"] == 0,
    }


async def main() -> dict[str, Any]:
    with postgres_server() as server, tempfile.TemporaryDirectory(prefix="loyalty-soak-") as tmp:
        db_url, _ = await fresh_database(server)
        engine = make_engine(db_url, 4)
        org_id, secret = await seed(engine)
        temporal = await temporal_dev_server(db_file=Path(tmp) / "temporal.db")
        (temporal_pid,) = children_named(os.getpid(), "temporal")
        pg = await postgres_pid(engine)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = stack_env(db_url, address_of(temporal), port, "soak") | {
            "CODEC_PORT": str(free_port()),
            "CODEC_ALLOW_UNAUTHENTICATED": "true",
            "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
            "API_METRICS_PORT": "0",
            "WORKER_METRICS_PORT": "0",
            "TEMPORAL_SDK_METRICS_PORT": "0",
        }
        headers = {"Authorization": f"Bearer {secret}", "X-Monterosa-Org-ID": org_id}
        load, minutes = Load(), list[dict[str, Any]]()
        async with AsyncExitStack() as stack:
            stack.push_async_callback(temporal.shutdown)
            http = await stack.enter_async_context(
                aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=256))
            )
            pids = {
                "api": await stack.enter_async_context(process([*CLI, "api"], env)),
                "worker": await stack.enter_async_context(process([*CLI, "worker"], env)),
                "codec": await stack.enter_async_context(process([*CLI, "codec-server"], env)),
            }
            await wait_http(f"{base}/healthz")
            hook = await stack.enter_async_context(receiver(free_port(), flaky))
            await configure(http, base, hook)
            await asyncio.sleep(3)
            drained = await drain_ours(engine, http, base, CALIBRATION)
            rate = drained / 2
            print(f"drain {drained:.1f} actions/s: offering {rate:.1f}/s for {SECONDS:.0f} s")
            measured = {**pids, "temporal": temporal_pid, "postgres": pg}
            sampler = asyncio.create_task(sample(engine, measured, minutes, load))
            t0 = time.time()
            await offer(http, engine, base, rate, load)
            sampler.cancel()
            settled = await settle_all(engine, load)
            per_minute(minutes, load, settled, t0)
            ledger = await ledger_checks(engine, org_id)
        await engine.dispose()
    five = {s: n for s, n in load.replies.items() if s >= 500}
    report: dict[str, Any] = {
        "seconds": SECONDS,
        "drain_per_second": round(drained, 1),
        "offered_per_second": round(rate, 1),
        "users": USERS,
        "accepted": len(load.posted),
        "lost": len(load.posted) - len(settled),
        "replays": len(load.replayed),
        "busy_retried": load.busy,
        "replies": dict(sorted(load.replies.items())),
        "replies_5xx_not_busy": sum(five.values()) - load.busy,
        "ledger": ledger,
        "minutes": minutes,
    }
    report["verdict"] = judge(report)
    return report


def draw(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = report["minutes"]
    x = [m["minute"] for m in minutes]
    fig, (mem, lat, back) = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for name in minutes[0]["rss_mb"]:
        mem.plot(x, [m["rss_mb"][name] for m in minutes], marker="o", label=name)
    mem.set_ylabel("resident MB")
    mem.legend(fontsize="small", ncol=5)
    lat.plot(x, [m["settle_p50_ms"] for m in minutes], marker="o", label="p50")
    lat.plot(x, [m["settle_p99_ms"] for m in minutes], marker="o", label="p99")
    lat.set_ylabel("POST → settled, ms")
    lat.legend(fontsize="small")
    back.plot(x, [m["backlog"] for m in minutes], marker="o")
    back.set_ylabel("unsettled events")
    back.set_xlabel("minute")
    fig.suptitle(
        f"soak: {report['offered_per_second']}/s offered (half the drain) for "
        f"{report['seconds']:.0f} s, {report['accepted']} accepted"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    result = asyncio.run(main())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    draw(result, RESULTS / "soak.png")
    print(json.dumps({k: result[k] for k in ("accepted", "lost", "ledger", "verdict")}, indent=2))
    print(f"written to {RESULTS / 'soak.json'} and soak.png")
    sys.exit(0 if all(result["verdict"].values()) else 1)
