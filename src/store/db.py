"""Engine and migrations. One engine per process, made by its composition root."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
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
        # Errors and logs never carry bound values: codes, emails and phones stay in the
        # database.
        hide_parameters=True,
        connect_args={"server_settings": {"application_name": "loyalty"}},
    )


# SQLSTATEs a retry can outlive: connection lost, too many connections or out of resources,
# the server shutting down or starting, and lost races (deadlock, serialization).
_TRANSIENT_STATES = ("08", "53", "57P", "40001", "40P01")


def sqlstate(exc: DBAPIError) -> str:
    """The PostgreSQL error code behind a driver error ('' when there is none)."""
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if code:
            return str(code)
    return ""


def is_transient(exc: BaseException) -> bool:
    """Whether the database failed for a reason that waiting can cure (it is down, restarting,
    overloaded, or the work lost a race), as opposed to a fault in the work itself."""
    if isinstance(exc, OSError | TimeoutError | PoolTimeout | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        return (
            exc.connection_invalidated
            or isinstance(exc.orig, OSError)
            or sqlstate(exc).startswith(_TRANSIENT_STATES)
        )
    return False


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once (advisory
    lock)."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
