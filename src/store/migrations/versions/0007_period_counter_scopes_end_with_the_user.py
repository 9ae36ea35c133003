"""per-period limit counter scopes end with the user ID, so any ID reads back unambiguously

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:40:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# user:<id>:<period>:<key>  ->  <period>:<key>:user:<id>  (the key is always last before)
_OLD = r"^user:(.*):(day|week|month):([0-9]{4}-[0-9W-]+)$"
_NEW = r"^(day|week|month):([0-9]{4}-[0-9W-]+):user:(.*)$"


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(
        f"UPDATE campaign_counters SET scope = regexp_replace(scope, '{_OLD}', '\\2:\\3:user:\\1') "
        f"WHERE scope ~ '{_OLD}'"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute(
        f"UPDATE campaign_counters SET scope = regexp_replace(scope, '{_NEW}', 'user:\\3:\\1:\\2') "
        f"WHERE scope ~ '{_NEW}'"
    )
