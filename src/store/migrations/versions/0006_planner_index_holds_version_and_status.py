"""planner index holds each campaign's current version and whether it is active, kept by
triggers

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


# The index copies two columns of campaigns; these keep the copy exact whichever code writes
# (including a previous release during a rolling deploy, which knows nothing of the copy).
_FUNCTIONS = (
    """
CREATE FUNCTION campaign_triggers_copy_campaign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.version, c.status = 'active' INTO NEW.version, NEW.active
    FROM campaigns c WHERE c.org_id = NEW.org_id AND c.id = NEW.campaign_id;
    RETURN NEW;
END $$
""",
    """
CREATE FUNCTION campaigns_update_triggers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign_triggers SET version = NEW.version, active = NEW.status = 'active'
    WHERE org_id = NEW.org_id AND campaign_id = NEW.id;
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER campaign_triggers_copy_campaign
    BEFORE INSERT OR UPDATE ON campaign_triggers
    FOR EACH ROW EXECUTE FUNCTION campaign_triggers_copy_campaign()
""",
    """
CREATE TRIGGER campaigns_update_triggers
    AFTER UPDATE OF status, version ON campaigns
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.version <> NEW.version)
    EXECUTE FUNCTION campaigns_update_triggers()
""",
)


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
    for statement in _FUNCTIONS:  # one each: the driver prepares every statement
        op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP TRIGGER campaigns_update_triggers ON campaigns")
    op.execute("DROP TRIGGER campaign_triggers_copy_campaign ON campaign_triggers")
    op.execute("DROP FUNCTION campaigns_update_triggers()")
    op.execute("DROP FUNCTION campaign_triggers_copy_campaign()")
    op.drop_index(
        "ix_campaign_triggers_active",
        table_name="campaign_triggers",
        postgresql_include=["campaign_id", "version"],
        postgresql_where=sa.text("active"),
    )
    op.drop_column("campaign_triggers", "active")
    op.drop_column("campaign_triggers", "version")
