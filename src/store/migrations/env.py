"""Alembic environment: async engine, one advisory lock so concurrent starts migrate once."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from src.config import get_settings
from src.store.tables import Base

MIGRATION_LOCK = 7_243_001


def _url() -> str:
    """The URL ``migrate`` set, else DATABASE_URL (the ``alembic`` command from the root)."""
    return context.config.get_main_option("sqlalchemy.url") or get_settings().require_database_url()


def _run(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    engine = create_async_engine(_url())
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
