"""Backtests keep the users they reward and their limit counters as rows, not in their state

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 03:20:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _backtest() -> sa.Column[str]:
    return sa.Column(
        "backtest_id",
        sa.String(length=64),
        sa.ForeignKey("backtests.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "backtest_users", _backtest(), sa.Column("user_id", sa.String(255), primary_key=True)
    )
    op.create_table(
        "backtest_counters",
        _backtest(),
        sa.Column("scope", sa.String(400), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("points", sa.Numeric(20, 4), nullable=False),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("backtest_counters")
    op.drop_table("backtest_users")
