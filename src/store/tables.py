"""Database schema. Every row belongs to one org; every query filters by it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from src.store.literals import PENDING, UNSETTLED_SQL

Money = Numeric(20, 4)


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JSONB,
        datetime: DateTime(timezone=True),
        Decimal: Money,
    }


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _org() -> Any:
    return mapped_column(
        Uuid(as_uuid=False), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )


class Org(Base):
    __tablename__ = "orgs"
    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _now()


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("orgs.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    replaced_by: Mapped[str | None] = mapped_column(String(64))  # set when rotated
    # The first key of its rotation chain: a key and the ones rotated from it are one poster.
    lineage: Mapped[str] = mapped_column(String(64))
    rate_limit: Mapped[dict[str, Any] | None]  # the key's own budget, within the org's


class User(Base):
    __tablename__ = "users"
    org_id: Mapped[str] = _org()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    # A merged user stays as an alias of the survivor; an erased one is an anonymous tombstone.
    merged_into: Mapped[str | None] = mapped_column(String(255))
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    __table_args__ = (
        Index(
            "ux_users_email",
            "org_id",
            "email",
            unique=True,
            postgresql_where=text("email IS NOT NULL"),
        ),
        Index(
            "ux_users_phone",
            "org_id",
            "phone",
            unique=True,
            postgresql_where=text("phone IS NOT NULL"),
        ),
    )


class UserIdentity(Base):
    """An integrator's own user ID, ``(source, externalId)``, mapped to a platform user."""

    __tablename__ = "user_identities"
    org_id: Mapped[str] = _org()
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255))


class Balance(Base):
    __tablename__ = "balances"
    org_id: Mapped[str] = _org()
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    currency: Mapped[str] = mapped_column(String(32), primary_key=True)
    balance: Mapped[Decimal]
    updated_at: Mapped[datetime] = _now()


class Trigger(Base):
    __tablename__ = "triggers"
    org_id: Mapped[str] = _org()
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Campaign(Base):
    __tablename__ = "campaigns"
    org_id: Mapped[str] = _org()
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class CampaignVersion(Base):
    """Immutable: a definition once written is never changed, only superseded."""

    __tablename__ = "campaign_versions"
    org_id: Mapped[str] = _org()
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _now()


class CampaignTrigger(Base):
    """Which action types a campaign's current version listens to: the planner's index.

    ``version`` and ``active`` copy the campaign's (database triggers keep them, migration
    0006), so finding what is in force for an action is one index-only range scan, whatever the
    number of campaigns in the org.
    """

    __tablename__ = "campaign_triggers"
    org_id: Mapped[str] = _org()
    action: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index(
            "ix_campaign_triggers_active",
            "org_id",
            "action",
            postgresql_include=["campaign_id", "version"],
            postgresql_where=text("active"),
        ),
    )


class CampaignCounter(Base):
    """How often a campaign fired (and the points it planned) within one limit's scope."""

    __tablename__ = "campaign_counters"
    org_id: Mapped[str] = _org()
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(400), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    points: Mapped[Decimal]


class LimitReservation(Base):
    """One limited firing's hold on its campaign's counters, keyed ``eventId:campaignId:version``.

    Reserving and releasing change this row and the counters in one transaction, so a retried
    release, a crash between steps or a second replay never moves a counter twice.
    """

    __tablename__ = "limit_reservations"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("orgs.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(255))  # the holder whose counters it uses
    counters: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    points: Mapped[Decimal]
    effects: Mapped[int] = mapped_column(Integer)  # planned effects of the firing
    state: Mapped[str] = mapped_column(String(16))  # reserved | released | reversed
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    __table_args__ = (Index("ix_limit_reservations_user", "org_id", "user_id"),)


class Product(Base):
    __tablename__ = "products"
    org_id: Mapped[str] = _org()
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    stock: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()


class CodePool(Base):
    __tablename__ = "code_pools"
    org_id: Mapped[str] = _org()
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]
    low_stock_threshold: Mapped[int | None] = mapped_column(Integer)
    # When pool.low_stock was announced; cleared by an import, so the next crossing is too.
    low_stock_notified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()


class Code(Base):
    __tablename__ = "codes"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    pool_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str | None] = mapped_column(String(255))
    allocated_at: Mapped[datetime | None]
    # Taken back by a reversal: never allocated again (whoever saw it may still try it).
    revoked_at: Mapped[datetime | None]
    __table_args__ = (
        Index("ux_codes_pool_code", "org_id", "pool_id", "code", unique=True),
        # Allocation takes the lowest free id of a pool: an index range probe, never a scan.
        Index(
            "ix_codes_free",
            "org_id",
            "pool_id",
            "id",
            postgresql_where=text("allocated_at IS NULL"),
        ),
    )


class Event(Base):
    """An accepted action: committed before the API replies, so nothing accepted is lost.

    It is also the outbox row: ``started_at`` stays NULL until a relay has started its workflow.
    """

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("orgs.id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(String(255))
    resolved_user_id: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    campaign_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    planned_effects: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    started_at: Mapped[datetime | None]
    # Start attempts Temporal refused: any failure backs the row off (``start_after``); only
    # rejections no retry can change count towards failing it.
    start_failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    start_rejections: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    start_after: Mapped[datetime | None]
    start_error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None]  # when the reconciler last asked Temporal about it
    # The accepting request's W3C traceparent when traced: the relay's start continues it.
    trace_parent: Mapped[str | None] = mapped_column(String(64))
    restarts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # The lineage of the API key that posted it (None before 0.6.0): who may reverse it.
    key_lineage: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    __table_args__ = (
        Index(
            "ux_events_idempotency",
            "org_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # The outbox: accepted events whose workflow the relay has not started yet, per org.
        Index(
            "ix_events_unstarted",
            "org_id",
            "created_at",
            postgresql_where=text("started_at IS NULL"),
        ),
        # Started and not settled: what each org has in Temporal now (the relay's window
        # counts all but the waiting ones; the reconciler looks at all).
        Index(
            "ix_events_started_unsettled",
            "org_id",
            "started_at",
            postgresql_where=text(f"started_at IS NOT NULL AND status IN ({UNSETTLED_SQL})"),
        ),
        Index("ix_events_org_status", "org_id", "status", "created_at"),
        # Backtests page through an org's actions of one type in timestamp order.
        Index("ix_events_org_action_time", "org_id", "action", "occurred_at", "id"),
        # Refund actions find the purchase they reverse by its order ID (reversalActions).
        Index(
            "ix_events_data_order",
            "org_id",
            "action",
            text("(data ->> 'orderId')"),
            postgresql_where=text("data ? 'orderId'"),
        ),
        Index(
            "ix_events_metadata_order",
            "org_id",
            "action",
            text("(metadata ->> 'orderId')"),
            postgresql_where=text("metadata ? 'orderId'"),
        ),
        Index("ix_events_campaigns", "campaign_ids", postgresql_using="gin"),
    )


class EffectResult(Base):
    """Latest outcome of one planned effect; the ledger row is the proof of a grant."""

    __tablename__ = "effect_results"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    org_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    campaign_version: Mapped[int] = mapped_column(Integer)
    effect_index: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = _now()


class LedgerEntry(Base):
    """One grant. ``idempotency_key`` is UNIQUE: the database, not the code, forbids a double grant."""

    __tablename__ = "ledger"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    user_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]
    currency: Mapped[str | None] = mapped_column(String(32))
    balance_after: Mapped[Decimal | None]
    product_id: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str | None] = mapped_column(String(128))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    campaign_version: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[str | None] = mapped_column(String(64))
    effect_index: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    # A reversal's row: the grant it takes back (negative amount) and the reversal it is of.
    reverses_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ledger.id"))
    reversal_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    __table_args__ = (
        Index(
            "ix_ledger_reverses", "reverses_id", postgresql_where=text("reverses_id IS NOT NULL")
        ),
        Index("ix_ledger_user", "org_id", "user_id", "id"),
        Index("ix_ledger_event", "org_id", "event_id"),
        Index("ix_ledger_campaign", "org_id", "campaign_id", "id"),
        Index("ix_ledger_org", "org_id", "id"),
    )


class Reversal(Base):
    """A request to take back what an event granted: in full, or part of it (``amount`` of the
    action's ``data.amount``, points scaled alike). ``key`` makes a retry the same reversal;
    the ledger rows it writes are keyed ``<id>:<grant's ledger id>``, so each is written once.
    """

    __tablename__ = "reversals"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("orgs.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(64))
    # ``key:`` + a client's Idempotency-Key (up to 255), or a key the engine makes.
    key: Mapped[str] = mapped_column(String(300))
    amount: Mapped[Decimal | None]  # None: in full
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # queued | completed | failed
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    __table_args__ = (
        Index("ux_reversals_key", "org_id", "event_id", "key", unique=True),
        Index("ix_reversals_queued", "created_at", postgresql_where=text("status = 'queued'")),
    )


class Backtest(Base):
    """A campaign version replayed over stored actions: its window, progress and, saved with
    each page, its running state (aggregates and where it stopped: a size that does not grow
    with the users seen; those and the limit counters are rows of their own)."""

    __tablename__ = "backtests"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("orgs.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[str] = mapped_column(String(64))
    campaign_version: Mapped[int] = mapped_column(Integer)
    actions: Mapped[list[str]] = mapped_column(ARRAY(Text))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    total: Mapped[int] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    state: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    # Whether the requesting key may read users: else email and phone conditions see nothing.
    personal: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    started_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    completed_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_backtests_org", "org_id", "started_at"),)


def _backtest() -> Mapped[str]:
    return mapped_column(
        String(64), ForeignKey("backtests.id", ondelete="CASCADE"), primary_key=True
    )


class BacktestUser(Base):
    """A user a backtest would have rewarded: ``distinctUsers`` counts these, exactly."""

    __tablename__ = "backtest_users"
    backtest_id: Mapped[str] = _backtest()
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class BacktestCounter(Base):
    """A backtest's simulated limit counter (as ``campaign_counters``, started empty),
    written per page for the scopes that page touched."""

    __tablename__ = "backtest_counters"
    backtest_id: Mapped[str] = _backtest()
    scope: Mapped[str] = mapped_column(String(400), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    points: Mapped[Decimal]


class Webhook(Base):
    """An org's subscription: a URL, the notifications it wants and its signing secret, sealed
    with the payload keys and bound to the row (``domain.sealing``); rotating replaces it."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("orgs.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    __table_args__ = (Index("ix_webhooks_org", "org_id"),)


class WebhookDelivery(Base):
    """One notification to one webhook, written in the transaction of what it announces (the
    outbox row: ``started_at`` stays NULL until a relay starts its DeliverWebhook run). Its
    ``id`` is the ``webhook-id`` every attempt sends, with the same body and timestamp."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    webhook_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("webhooks.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    resends: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    __table_args__ = (
        Index("ix_webhook_deliveries_hook", "webhook_id", "created_at"),
        # The outbox, per webhook (the relay takes webhooks round-robin, oldest first).
        Index(
            "ix_webhook_deliveries_unstarted_hook",
            "webhook_id",
            "created_at",
            postgresql_where=text("started_at IS NULL"),
        ),
        # Started, not delivered yet: each webhook's and org's window.
        Index(
            "ix_webhook_deliveries_in_flight",
            "org_id",
            "webhook_id",
            postgresql_where=text(f"started_at IS NOT NULL AND status = {PENDING}"),
        ),
        # Delivered or failed, by age: what retention deletes.
        Index(
            "ix_webhook_deliveries_settled",
            "updated_at",
            postgresql_where=text(f"status <> {PENDING}"),
        ),
    )
