"""Reversal keys fit a 255-character Idempotency-Key after their ``key:`` prefix

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 18:15:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.alter_column(
        "reversals", "key", type_=sa.String(length=300), existing_type=sa.String(length=255)
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column(
        "reversals", "key", type_=sa.String(length=255), existing_type=sa.String(length=300)
    )
