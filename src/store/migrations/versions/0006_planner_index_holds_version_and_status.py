"""planner index holds each campaign's current version and whether it is active

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 01:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("campaign_triggers", sa.Column("version", sa.Integer(), nullable=True))
    op.add_column("campaign_triggers", sa.Column("active", sa.Boolean(), nullable=True))
    op.execute(
        """
        UPDATE campaign_triggers t SET version = c.version, active = c.status = 'active'
        FROM campaigns c WHERE c.org_id = t.org_id AND c.id = t.campaign_id
        """
    )
    op.alter_column("campaign_triggers", "version", nullable=False)
    op.alter_column("campaign_triggers", "active", nullable=False)
    op.create_index(
        "ix_campaign_triggers_active",
        "campaign_triggers",
        ["org_id", "action"],
        unique=False,
        postgresql_include=["campaign_id", "version"],
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(
        "ix_campaign_triggers_active",
        table_name="campaign_triggers",
        postgresql_include=["campaign_id", "version"],
        postgresql_where=sa.text("active"),
    )
    op.drop_column("campaign_triggers", "active")
    op.drop_column("campaign_triggers", "version")
