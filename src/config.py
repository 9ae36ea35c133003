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
    """Every setting a `loyalty` process reads: environment variables (the field name in
    capitals) or a `.env` file. The documentation's configuration page is rendered from these
    fields, so each carries its description."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Services it needs.
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of PostgreSQL: `postgresql+asyncpg://user:pass@host:5432/db`. "
        "Unset under `loyalty dev`: its embedded PostgreSQL.",
    )
    temporal_address: str | None = Field(
        default=None,
        description="`host:port` of Temporal's frontend. Unset under `loyalty dev`: its "
        "Temporal dev server.",
    )
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    task_queue: str = Field(
        default="loyalty-actions",
        description="Task queue of ProcessAction and the other workflows; webhook deliveries "
        "use `<TASK_QUEUE>-webhooks`.",
    )
    payload_keys: str | None = Field(
        default=None,
        description="Required on every API and worker process (they refuse to start without "
        "it): `id:base64key[,id:base64key…]`, the keys sealing Temporal payloads and webhook "
        "signing secrets; the first seals, all open (rotate by adding a key first). "
        "`loyalty payload-key` makes one; `loyalty dev` keeps its own in DATA_DIR.",
        repr=False,
    )
    payload_accept_unsealed: bool = Field(
        default=True,
        description="Read payloads that are not sealed (histories recorded before 0.2.0); "
        "turn off once none is kept, so that whoever reaches Temporal cannot feed workers an "
        "input of their own.",
    )
    redis_url: str | None = Field(
        default=None,
        description="`redis://host:6379/0`: rate-limit counters and the authentication "
        "throttle's exemptions shared by all API processes (else each process counts alone).",
    )

    # The API.
    api_host: str = Field(default="127.0.0.1", description="Where the API listens.")
    api_port: int = Field(default=8000, description="The API's port.")
    api_workers: int = Field(
        default=1,
        ge=1,
        description="API processes `loyalty api` runs; a request is CPU-bound, so use one per "
        "core.",
    )
    api_grace_seconds: float = Field(
        default=30.0, description="On SIGTERM, how long in-flight requests may take to finish."
    )
    key_cache_seconds: float = Field(
        default=30.0,
        description="Longest a cached API key or trigger definition is trusted without a "
        "database read; change notices drop them at once, so this bounds staleness only while "
        "a process has lost its notice connection.",
    )
    rate_limit_per_second: int = Field(
        default=100, description="Default sustained requests per second per org (and per key)."
    )
    rate_limit_burst: int = Field(
        default=500, description="Default requests in any one second per org (and per key)."
    )
    bulk_codes_per_minute: int = Field(
        default=200_000,
        ge=1000,
        description="Codes an org may import or generate a minute (a budget of its own).",
    )
    pool_max_codes: int = Field(default=1_000_000, ge=1, description="Most codes in one pool.")

    # The worker, its relays and its reconciler.
    db_pool_size: int = Field(
        default=20, description="Database connections per process (and as many in overflow)."
    )
    worker_slots: int = Field(
        default=16,
        ge=1,
        description="Workflow tasks, and activities, a worker process runs at once. More than "
        "keep its CPU busy only queue work inside the process, where task-queue fairness "
        "cannot reorder it.",
    )
    worker_grace_seconds: float = Field(
        default=30.0, description="On SIGTERM, how long in-flight activities may take to finish."
    )
    workflow_sandbox: bool = Field(
        default=False,
        description="Run workflow code in Temporal's sandbox, which refuses non-deterministic "
        "calls as they happen but re-imports the workflow module for every run (about a fifth "
        "of a worker's CPU). The tests replay every recorded history and run the workflow "
        "in the sandbox either way.",
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
    reconcile_every_seconds: float = Field(
        default=30.0, gt=0, description="How often the reconciler sweeps."
    )
    activity_max_attempts: int = Field(
        default=8,
        ge=1,
        description="Attempts after which a plan or effect failing for a reason other than an "
        "unavailable database gives up (the event ends failed, replayable); an outage is "
        "retried for as long as it lasts.",
    )
    backtest_heartbeat_seconds: float = Field(
        default=60.0,
        ge=1,
        description="How long a backtest may go without a heartbeat (one per page of 1,000 "
        "actions) before Temporal takes its worker for dead and resumes it on another. Set on "
        "the API, which starts backtests.",
    )

    # Webhooks.
    webhook_slots: int = Field(
        default=8,
        ge=1,
        description="Webhook delivery attempts a worker process makes at once, on a task queue "
        "of their own (`<TASK_QUEUE>-webhooks`), so slow receivers never hold the slots "
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
    webhooks_allow_private_targets: bool = Field(
        default=False,
        description="Deliver webhooks to private, loopback, link-local and other non-global "
        "addresses (an operator's setting, never an org's; `make dev` turns it on).",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="One delivery attempt's time for the whole exchange, name resolution included.",
    )
    webhook_first_retry_seconds: float = Field(
        default=5.0, gt=0, description="Wait before a failed delivery's second attempt."
    )
    webhook_max_retry_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Longest wait between attempts (the wait doubles up to it).",
    )
    webhook_give_up_seconds: float = Field(
        default=3 * 24 * 3600.0,
        gt=0,
        description="After this long without a 2xx reply a delivery is `failed` (re-sendable).",
    )

    # The codec endpoint, through which the Temporal UI shows sealed payloads decoded.
    codec_host: str = Field(
        default="127.0.0.1",
        description="Where the codec endpoint listens (an operator's listener, apart from the "
        "API).",
    )
    codec_port: int = Field(default=8089, description="The codec endpoint's port.")
    codec_token: str | None = Field(
        default=None,
        description="Callers of the codec endpoint send `Authorization: Bearer <token>` (the "
        "`temporal` CLI's `--codec-auth`; a proxy in front of the Temporal UI adds it). The "
        "endpoint refuses to start without it unless CODEC_ALLOW_UNAUTHENTICATED is true.",
        repr=False,
    )
    codec_allow_unauthenticated: bool = Field(
        default=False,
        description="Serve the codec endpoint without CODEC_TOKEN: only where nobody but "
        "operators can reach it (`loyalty dev` does, on loopback, since the dev server's UI "
        "cannot send a token).",
    )
    codec_allowed_hosts: list[str] = Field(
        default=["localhost", "127.0.0.1", "::1"],
        description="`Host` header values the codec endpoint answers (a page on another name "
        "rebinding to it is refused): add the name a proxy or the CLI uses.",
    )
    codec_cors_origins: list[str] = Field(
        default=["http://localhost:8233", "http://127.0.0.1:8233"],
        description="Origins of the Temporal UI allowed to call the codec endpoint.",
    )

    # What it tells operators.
    log_level: str = Field(default="INFO", description="Log level (`DEBUG`, `INFO`, `WARNING`…).")
    log_format: Literal["json", "console"] = Field(
        default="json",
        description="`json`: one JSON object per line; `console`: a human view of the same fields.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Where the operator-only `/metrics` listeners bind."
    )
    api_metrics_port: int = Field(default=9100, ge=0, description="The API's `/metrics` (0: off).")
    worker_metrics_port: int = Field(
        default=9101, ge=0, description="The worker's `/metrics` (0: off)."
    )
    temporal_sdk_metrics_port: int = Field(
        default=9102, ge=0, description="The worker's Temporal SDK metrics (0: off)."
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (e.g. `http://127.0.0.1:4318`): traces on.",
    )

    # `loyalty dev`.
    data_dir: str = Field(
        default=".loyalty",
        description="Where `loyalty dev` keeps its data: PostgreSQL, Temporal's database, the "
        "payload key, the demo credentials and `stack.json`, by which the other `loyalty` "
        "commands find the running stack.",
    )

    @field_validator("payload_keys")
    @classmethod
    def _keys(cls, value: str | None) -> str | None:
        if value is not None:
            parse_keys(value)
        return value

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigurationError(
                "DATABASE_URL is not set (postgresql+asyncpg://user:pass@host/db)"
            )
        return self.database_url

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
