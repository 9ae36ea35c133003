"""Who posted an event: API keys carry their rotation chain, events the chain that posted them

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 02:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each key's lineage is the first key of its chain (keys nobody rotated into start one).
_BACKFILL = sa.text(
    """
    WITH RECURSIVE chain(id, lineage) AS (
        SELECT k.id, k.id FROM api_keys k
        WHERE NOT EXISTS (SELECT 1 FROM api_keys p WHERE p.replaced_by = k.id)
        UNION ALL
        SELECT k.id, c.lineage FROM chain c
        JOIN api_keys p ON p.id = c.id
        JOIN api_keys k ON k.id = p.replaced_by
    )
    UPDATE api_keys SET lineage = chain.lineage FROM chain WHERE api_keys.id = chain.id
    """
)


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("api_keys", sa.Column("lineage", sa.String(length=64), nullable=True))
    op.execute(_BACKFILL)
    op.execute("UPDATE api_keys SET lineage = id WHERE lineage IS NULL")
    op.alter_column("api_keys", "lineage", nullable=False)
    op.add_column("events", sa.Column("key_lineage", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("events", "key_lineage")
    op.drop_column("api_keys", "lineage")
