"""Schema upgrades keep what is stored meaningful."""

from __future__ import annotations

from sqlalchemy import text

from src.store import orgs
from src.store.db import make_engine, migrate
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


async def test_planner_index_is_filled_from_existing_campaigns(databases: Databases) -> None:
    url = await databases.create("0005")
    engine = make_engine(url, 1)
    try:
        async with engine.begin() as conn:
            org_id = await orgs.create_org(conn, "before 0006")
            await conn.execute(_CAMPAIGNS, {"org": org_id})
            await conn.execute(_TRIGGERS, {"org": org_id})
        await migrate(url)
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT action, campaign_id, version, active FROM campaign_triggers "
                    "ORDER BY action, campaign_id"
                )
            )
            assert [tuple(r) for r in rows] == [
                ("buy", "cmp_off", 2, False),
                ("buy", "cmp_on", 3, True),
                ("tap", "cmp_on", 3, True),
            ]
    finally:
        await engine.dispose()
