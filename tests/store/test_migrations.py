"""Schema upgrades keep what is stored meaningful."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from src.store import orgs
from src.store.db import make_engine, migrate
from src.store.tables import Base
from tests.support import Databases

_CAMPAIGNS = text(
    """
    INSERT INTO campaigns (org_id, id, status, version) VALUES
        (CAST(:org AS uuid), 'cmp_on', 'active', 3), (CAST(:org AS uuid), 'cmp_off', 'paused', 2)
    """
)
_TRIGGERS = text(
    """
    INSERT INTO campaign_triggers (org_id, action, campaign_id) VALUES
        (CAST(:org AS uuid), 'buy', 'cmp_on'), (CAST(:org AS uuid), 'tap', 'cmp_on'),
        (CAST(:org AS uuid), 'buy', 'cmp_off')
    """
)
_COUNTERS = text(
    """
    INSERT INTO campaign_counters (org_id, campaign_id, scope, count, points) VALUES
        (CAST(:org AS uuid), 'cmp_on', 'total', 3, 0),
        (CAST(:org AS uuid), 'cmp_on', 'user:a:b', 1, 0),
        (CAST(:org AS uuid), 'cmp_on', 'user:a:b:day:2025-10-06', 1, 0),
        (CAST(:org AS uuid), 'cmp_on', 'user:u:week:2025-W41', 1, 0),
        (CAST(:org AS uuid), 'cmp_on', 'user:u:month:2025-10', 1, 0)
    """
)
_INDEX = text(
    "SELECT action, campaign_id, version, active FROM campaign_triggers "
    "ORDER BY action, campaign_id"
)


async def test_upgrades_keep_planner_index_and_counters(databases: Databases) -> None:
    """0006 fills the planner's index and keeps it in step with campaign rows, whatever code
    writes them; 0007 moves per-period counters to scopes that end with the user ID."""
    url = await databases.create("0005")
    engine = make_engine(url, 1)
    try:
        async with engine.begin() as conn:
            org_id = await orgs.create(conn, "before 0006")
            for seed in (_CAMPAIGNS, _TRIGGERS, _COUNTERS):
                await conn.execute(seed, {"org": org_id})
        await migrate(url)
        async with engine.begin() as conn:
            assert [tuple(r) for r in await conn.execute(_INDEX)] == [
                ("buy", "cmp_off", 2, False),
                ("buy", "cmp_on", 3, True),
                ("tap", "cmp_on", 3, True),
            ]
            # Writers that know nothing of the copied columns (a previous release):
            await conn.execute(
                text("UPDATE campaigns SET status = 'active', version = 4 WHERE id = 'cmp_off'")
            )
            await conn.execute(text("UPDATE campaigns SET status = 'paused' WHERE id = 'cmp_on'"))
            await conn.execute(
                text(
                    "INSERT INTO campaign_triggers (org_id, action, campaign_id) "
                    "VALUES (CAST(:org AS uuid), 'tap', 'cmp_off')"
                ),
                {"org": org_id},
            )
            assert [tuple(r) for r in await conn.execute(_INDEX)] == [
                ("buy", "cmp_off", 4, True),
                ("buy", "cmp_on", 3, False),
                ("tap", "cmp_off", 4, True),
                ("tap", "cmp_on", 3, False),
            ]
            scopes = await conn.scalars(text("SELECT scope FROM campaign_counters ORDER BY scope"))
            assert list(scopes) == [
                "day:2025-10-06:user:a:b",
                "month:2025-10:user:u",
                "total",
                "user:a:b",
                "week:2025-W41:user:u",
            ]
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_tables(databases: Databases) -> None:
    """What ``alembic upgrade head`` builds is what ``src/store/tables.py`` declares: a change
    to one without the other shows here (``make migration`` writes the missing revision)."""
    engine = make_engine(await databases.create(), 1)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False}
    )
    return list(compare_metadata(context, Base.metadata))
