"""Engine and migrations. One engine per process, made by its composition root."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping per checkout (a round trip on every request): after a database restart the
        # first disconnect error invalidates the whole pool, so only requests in flight fail.
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "loyalty"}},
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once (advisory
    lock)."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
