"""API keys remember the key that replaced them (a rotated key cannot be rotated again) and
may carry a rate limit of their own

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 08:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("api_keys", sa.Column("replaced_by", sa.String(length=64), nullable=True))
    op.add_column(
        "api_keys",
        sa.Column("rate_limit", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("api_keys", "rate_limit")
    op.drop_column("api_keys", "replaced_by")
