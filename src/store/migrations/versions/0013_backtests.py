"""Backtests of campaign versions over stored actions, and the index they page through

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 15:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    now = sa.func.now()
    op.create_table(
        "backtests",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column(
            "org_id",
            sa.Uuid(as_uuid=False),
            sa.ForeignKey("orgs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_version", sa.Integer(), nullable=False),
        sa.Column("actions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("state", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_backtests_org", "backtests", ["org_id", "started_at"])
    op.create_index(
        "ix_events_org_action_time", "events", ["org_id", "action", "occurred_at", "id"]
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_events_org_action_time", table_name="events")
    op.drop_index("ix_backtests_org", table_name="backtests")
    op.drop_table("backtests")
