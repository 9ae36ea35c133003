"""Outbox relay: starts the workflow of every accepted event whose start was lost (API crash
after commit, Temporal down). Any number of relays may run: rows are claimed SKIP LOCKED and
starting an existing workflow ID is a no-op."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from src.config import Settings
from src.runtime.workflows import start_action
from src.store import events

log = logging.getLogger(__name__)
BATCH = 200


async def relay_once(client: Client, engine: AsyncEngine, settings: Settings) -> int:
    async with engine.begin() as conn:
        pending = await events.claim_unstarted(conn, settings.relay_grace_seconds, BATCH)
    for action in pending:
        await start_action(client, action, settings.task_queue)
    return len(pending)


async def run_forever(client: Client, engine: AsyncEngine, settings: Settings) -> None:
    while True:
        try:
            started = await relay_once(client, engine, settings)
            if started:
                log.info("relay started %d queued events", started)
                continue
        except Exception:
            log.exception("relay pass failed; retrying")
        await asyncio.sleep(settings.relay_interval_seconds)
