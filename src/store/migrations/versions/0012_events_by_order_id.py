"""Events findable by their order ID (data or metadata), for refund actions that name the
purchase they reverse

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 14:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    for name, column in (
        ("ix_events_data_order", "data"),
        ("ix_events_metadata_order", "metadata"),
    ):
        op.create_index(
            name,
            "events",
            ["org_id", "action", sa.text(f"({column} ->> 'orderId')")],
            postgresql_where=sa.text(f"{column} ? 'orderId'"),
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_events_metadata_order", table_name="events")
    op.drop_index("ix_events_data_order", table_name="events")
