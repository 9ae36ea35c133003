"""Refund actions waiting for their purchase: the started-and-unsettled index covers them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 01:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IN_FLIGHT = sa.text("started_at IS NOT NULL AND status IN ('queued', 'processing')")
_UNSETTLED = sa.text("started_at IS NOT NULL AND status IN ('queued', 'processing', 'waiting')")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "ix_events_started_unsettled",
        "events",
        ["org_id", "started_at"],
        postgresql_where=_UNSETTLED,
    )
    op.drop_index("ix_events_in_flight", table_name="events", postgresql_where=_IN_FLIGHT)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("UPDATE events SET status = 'processing' WHERE status = 'waiting'")
    op.create_index(
        "ix_events_in_flight", "events", ["org_id", "started_at"], postgresql_where=_IN_FLIGHT
    )
    op.drop_index("ix_events_started_unsettled", table_name="events", postgresql_where=_UNSETTLED)
