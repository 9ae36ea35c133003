"""fair, self-healing outbox (per-row start retries, in-flight index, reconciler checks) and
one reservation row per limited firing

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 07:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IN_FLIGHT = sa.text("started_at IS NOT NULL AND status IN ('queued', 'processing')")


def upgrade() -> None:
    """Upgrade schema."""
    for name in ("start_failures", "start_rejections", "restarts"):
        op.add_column(
            "events", sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    op.add_column("events", sa.Column("start_after", sa.DateTime(timezone=True), nullable=True))
    op.add_column("events", sa.Column("start_error", sa.Text(), nullable=True))
    op.add_column("events", sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index(
        "ix_events_unstarted", table_name="events", postgresql_where=sa.text("started_at IS NULL")
    )
    op.create_index(
        "ix_events_unstarted",
        "events",
        ["org_id", "created_at"],
        postgresql_where=sa.text("started_at IS NULL"),
    )
    op.create_index(
        "ix_events_in_flight", "events", ["org_id", "started_at"], postgresql_where=_IN_FLIGHT
    )
    op.create_table(
        "limit_reservations",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("org_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("counters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("points", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("effects", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(
        "ix_limit_reservations_user", "limit_reservations", ["org_id", "user_id"], unique=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_limit_reservations_user", table_name="limit_reservations")
    op.drop_table("limit_reservations")
    op.drop_index("ix_events_in_flight", table_name="events", postgresql_where=_IN_FLIGHT)
    op.drop_index(
        "ix_events_unstarted", table_name="events", postgresql_where=sa.text("started_at IS NULL")
    )
    op.create_index(
        "ix_events_unstarted",
        "events",
        ["created_at"],
        postgresql_where=sa.text("started_at IS NULL"),
    )
    for name in (
        "restarts",
        "checked_at",
        "start_error",
        "start_after",
        "start_rejections",
        "start_failures",
    ):
        op.drop_column("events", name)
