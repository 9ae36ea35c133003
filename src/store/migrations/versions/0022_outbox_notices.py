"""The outbox announces new work: relays wake on NOTIFY instead of polling

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 04:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Statement-level where rows arrive (one notice per accepted batch, whoever writes it, none for
# an INSERT that added no row: a notification nobody subscribes to, a retried action); per row
# only where a started delivery is put back to be started again (a resend), which is rare.
_TRIGGERS = {
    "events_accepted": "AFTER INSERT ON events REFERENCING NEW TABLE AS added FOR EACH STATEMENT",
    "webhook_deliveries_written": "AFTER INSERT ON webhook_deliveries "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT",
    "webhook_deliveries_resent": "AFTER UPDATE OF started_at ON webhook_deliveries FOR EACH ROW "
    "WHEN (OLD.started_at IS NOT NULL AND NEW.started_at IS NULL)",
}


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(
        """
        CREATE FUNCTION loyalty_outbox_notice() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_LEVEL = 'STATEMENT' THEN
                IF NOT EXISTS (SELECT 1 FROM added) THEN
                    RETURN NULL;
                END IF;
            END IF;
            PERFORM pg_notify('loyalty_outbox', TG_ARGV[0]);
            RETURN NULL;
        END $$
        """
    )
    for name, when in _TRIGGERS.items():
        topic = "webhooks" if name.startswith("webhook") else "events"
        op.execute(
            f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION loyalty_outbox_notice('{topic}')"
        )


def downgrade() -> None:
    """Downgrade schema."""
    for name, when in _TRIGGERS.items():
        table = when.split(" ON ")[1].split()[0]
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION loyalty_outbox_notice()")
