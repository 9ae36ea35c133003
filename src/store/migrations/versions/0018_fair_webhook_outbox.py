"""Webhook outbox fair per webhook and org, and kept for a while only: its indexes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 02:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNSTARTED = sa.text("started_at IS NULL")
_IN_FLIGHT = sa.text("started_at IS NOT NULL AND status = 'pending'")
_SETTLED = sa.text("status <> 'pending'")
TABLE = "webhook_deliveries"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "ix_webhook_deliveries_unstarted_hook",
        TABLE,
        ["webhook_id", "created_at"],
        postgresql_where=_UNSTARTED,
    )
    op.drop_index("ix_webhook_deliveries_unstarted", table_name=TABLE, postgresql_where=_UNSTARTED)
    op.create_index(
        "ix_webhook_deliveries_in_flight",
        TABLE,
        ["org_id", "webhook_id"],
        postgresql_where=_IN_FLIGHT,
    )
    op.create_index(
        "ix_webhook_deliveries_settled", TABLE, ["updated_at"], postgresql_where=_SETTLED
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_webhook_deliveries_settled", table_name=TABLE, postgresql_where=_SETTLED)
    op.drop_index("ix_webhook_deliveries_in_flight", table_name=TABLE, postgresql_where=_IN_FLIGHT)
    op.create_index(
        "ix_webhook_deliveries_unstarted", TABLE, ["created_at"], postgresql_where=_UNSTARTED
    )
    op.drop_index(
        "ix_webhook_deliveries_unstarted_hook", table_name=TABLE, postgresql_where=_UNSTARTED
    )
