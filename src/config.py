"""Process configuration, read once from the environment (and `.env`) at start-up."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from src.domain.sealing import Sealer, parse_keys


class ConfigurationError(RuntimeError):
    """A setting the command needs is missing or wrong: said in one line, not a traceback."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (postgresql+asyncpg://…); unset under `loyalty dev` = embedded.",
    )
    temporal_address: str | None = Field(
        default=None, description="host:port of Temporal; unset under `loyalty dev` = dev server."
    )
    temporal_namespace: str = "default"
    payload_keys: str | None = Field(
        default=None,
        description="Keys sealing Temporal payloads: 'id:base64key[,id:base64key…]', the first "
        "seals, all open (rotate by adding a key first). `loyalty payload-key` makes one; "
        "`loyalty dev` keeps its own in DATA_DIR.",
        repr=False,
    )
    task_queue: str = "loyalty-actions"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(
        default=1, ge=1, description="API processes `loyalty api` runs (a request is CPU-bound)."
    )
    data_dir: str = ".loyalty"
    db_pool_size: int = 20
    key_cache_seconds: float = Field(
        default=30.0,
        description="Longest a cached API key or trigger definition is trusted without a DB "
        "read; change notices drop them at once.",
    )
    relay_idle_seconds: float = Field(
        default=0.05,
        description="Least time between relay passes while starts trickle in, and the first "
        "wait of an idle relay, which doubles (to 5 s) until a notice of new rows wakes it.",
    )
    relay_window: int = Field(
        default=400, ge=1, description="Started, unsettled events allowed in Temporal in all."
    )
    relay_window_per_org: int = Field(
        default=64, ge=1, description="Started, unsettled events allowed in Temporal per org."
    )
    relay_batch: int = Field(default=100, ge=1, description="Most starts in one relay pass.")
    relay_start_rejections: int = Field(
        default=3,
        ge=1,
        description="Starts Temporal rejects for good (invalid, unserialisable) before the "
        "event is failed.",
    )
    reconcile_after_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a started event may stay unsettled before the reconciler asks "
        "Temporal about it.",
    )
    reconcile_every_seconds: float = Field(default=30.0, gt=0, description="Reconciler period.")
    activity_max_attempts: int = Field(
        default=8,
        ge=1,
        description="Attempts after which a plan or effect failing for a reason other than an "
        "unavailable database gives up (the event ends failed, replayable).",
    )
    webhook_slots: int = Field(
        default=8,
        ge=1,
        description="Webhook delivery attempts a worker process makes at once, on a task queue "
        "of their own (TASK_QUEUE + '-webhooks'), so slow receivers never hold the slots "
        "grants run in.",
    )
    webhook_window_per_org: int = Field(
        default=4,
        ge=1,
        description="Started, undelivered webhook deliveries per org (the rest wait in the "
        "outbox, taken round-robin): what an org's receivers that never answer can hold of "
        "WEBHOOK_SLOTS; keep it below WEBHOOK_SLOTS.",
    )
    webhook_window_per_hook: int = Field(
        default=2,
        ge=1,
        description="Started, undelivered deliveries per webhook, within its org's window: a "
        "dead receiver holds its own share only.",
    )
    webhook_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="Delivered and failed webhook deliveries are deleted this long after their "
        "last change (in batches; pending ones are kept).",
    )
    backtest_heartbeat_seconds: float = Field(
        default=60.0,
        ge=1,
        description="How long a backtest may go without a heartbeat (one per page of 1,000 "
        "actions) before Temporal takes its worker for dead and resumes it on another.",
    )
    worker_slots: int = Field(
        default=16,
        ge=1,
        description="Workflow tasks, and activities, a worker process runs at once. More than "
        "keep its CPU busy only queue work inside the process, where task-queue fairness "
        "cannot reorder it.",
    )
    workflow_sandbox: bool = Field(
        default=False,
        description="Run workflow code in Temporal's sandbox, which refuses non-deterministic "
        "calls as they happen but re-imports the workflow module for every run (about a fifth "
        "of a worker's CPU). The tests replay every recorded history and run the workflow "
        "in the sandbox either way.",
    )
    worker_grace_seconds: float = Field(
        default=30.0, description="On SIGTERM, how long in-flight activities may take to finish."
    )
    api_grace_seconds: float = Field(
        default=30.0, description="On SIGTERM, how long in-flight requests may take to finish."
    )
    redis_url: str | None = Field(
        default=None, description="Share rate-limit counters across API processes (redis://…)."
    )
    rate_limit_per_second: int = Field(default=100, description="Default sustained rate per org.")
    rate_limit_burst: int = Field(default=500, description="Default burst rate per org (1 s).")
    bulk_codes_per_minute: int = Field(
        default=200_000,
        ge=1000,
        description="Codes an org may import or generate a minute (a budget of its own).",
    )
    pool_max_codes: int = Field(default=1_000_000, ge=1, description="Most codes in one pool.")
    metrics_host: str = Field(
        default="127.0.0.1", description="Where the operator-only /metrics listeners bind."
    )
    api_metrics_port: int = Field(default=9100, ge=0, description="API /metrics (0: off).")
    worker_metrics_port: int = Field(default=9101, ge=0, description="Worker /metrics (0: off).")
    temporal_sdk_metrics_port: int = Field(
        default=9102, ge=0, description="The worker's Temporal SDK metrics (0: off)."
    )
    webhooks_allow_private_targets: bool = Field(
        default=False,
        description="Deliver webhooks to private, loopback and link-local addresses (an "
        "operator's setting; `make dev` turns it on).",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_first_retry_seconds: float = Field(default=5.0, gt=0)
    webhook_max_retry_seconds: float = Field(default=3600.0, gt=0)
    webhook_give_up_seconds: float = Field(default=3 * 24 * 3600.0, gt=0)
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (e.g. http://127.0.0.1:4318): traces on.",
    )
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = Field(
        default="json", description="JSON lines, or `console` for a human view."
    )

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigurationError(
                "DATABASE_URL is not set (postgresql+asyncpg://user:pass@host/db)"
            )
        return self.database_url

    @field_validator("payload_keys")
    @classmethod
    def _keys(cls, value: str | None) -> str | None:
        if value is not None:
            parse_keys(value)
        return value

    payload_accept_unsealed: bool = Field(
        default=True,
        description="Read payloads that are not sealed (histories recorded before 0.2.0); "
        "turn off once none is kept, and whoever reaches Temporal cannot feed workers an "
        "input of their own.",
    )
    codec_host: str = Field(
        default="127.0.0.1", description="Where the codec endpoint for the Temporal UI listens."
    )
    codec_port: int = 8089
    codec_token: str | None = Field(
        default=None,
        description="If set, codec callers must send 'Authorization: Bearer <token>'.",
        repr=False,
    )
    codec_allow_unauthenticated: bool = Field(
        default=False,
        description="Serve the codec endpoint without CODEC_TOKEN: only where nobody but "
        "operators can reach it (`loyalty dev` does, on loopback).",
    )
    codec_allowed_hosts: list[str] = Field(
        default=["localhost", "127.0.0.1", "::1"],
        description="Host header values the codec endpoint answers (a page on another name "
        "rebinding to it is refused).",
    )
    codec_cors_origins: list[str] = Field(
        default=["http://localhost:8233", "http://127.0.0.1:8233"],
        description="Origins of the Temporal UI allowed to call the codec endpoint.",
    )

    def require_payload_keys(self) -> str:
        if not self.payload_keys:
            raise ConfigurationError(
                "PAYLOAD_KEYS is not set: Temporal would store codes and personal data in "
                "clear. Make a key with `loyalty payload-key` and set PAYLOAD_KEYS=<it>"
            )
        return self.payload_keys

    @property
    def webhook_task_queue(self) -> str:
        return f"{self.task_queue}-webhooks"

    def sealer(self) -> Sealer:
        """Seals secrets the service reads back (webhook signing secrets) with PAYLOAD_KEYS."""
        return Sealer(parse_keys(self.require_payload_keys()))

    def require_temporal_address(self) -> str:
        if not self.temporal_address:
            raise ConfigurationError("TEMPORAL_ADDRESS is not set (host:port)")
        return self.temporal_address


@lru_cache
def get_settings() -> Settings:
    return Settings()
