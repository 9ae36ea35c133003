"""Reversals: a request per refund, ledger rows linked to the grants they take back, and
revoked codes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 13:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "reversals",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column(
            "org_id",
            sa.Uuid(as_uuid=False),
            sa.ForeignKey("orgs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.Numeric(20, 4), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ux_reversals_key", "reversals", ["org_id", "event_id", "key"], unique=True)
    op.create_index(
        "ix_reversals_queued",
        "reversals",
        ["created_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.add_column("ledger", sa.Column("reverses_id", sa.BigInteger(), nullable=True))
    op.add_column("ledger", sa.Column("reversal_id", sa.String(length=64), nullable=True))
    op.create_foreign_key("fk_ledger_reverses", "ledger", "ledger", ["reverses_id"], ["id"])
    op.create_index(
        "ix_ledger_reverses",
        "ledger",
        ["reverses_id"],
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.add_column("codes", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("codes", "revoked_at")
    op.drop_index("ix_ledger_reverses", table_name="ledger")
    op.drop_constraint("fk_ledger_reverses", "ledger", type_="foreignkey")
    op.drop_column("ledger", "reversal_id")
    op.drop_column("ledger", "reverses_id")
    op.drop_index("ix_reversals_queued", table_name="reversals")
    op.drop_index("ux_reversals_key", table_name="reversals")
    op.drop_table("reversals")
