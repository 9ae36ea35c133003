"""Prometheus metrics of the API and the worker, served on operator ports only (never the
public API port: they carry org IDs).

Label cardinality is bounded: ``org`` is the org's ID for the first ``MAX_ORGS`` (50) orgs a
process sees, then ``other``; routes are templates, never paths; reasons and effect types
are the engine's own finite sets. Several API processes (``API_WORKERS`` > 1) share one
endpoint through prometheus-client's multiprocess mode, served by the parent process.
"""

from __future__ import annotations

import os
import threading

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

HTTP_REQUESTS = Counter(
    "loyalty_http_requests",
    "HTTP requests by route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "loyalty_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ACCEPTED = Counter("loyalty_actions_accepted", "Actions accepted (events queued).", ["org"])
RATE_LIMITED = Counter(
    "loyalty_rate_limited", "Requests refused by a rate limit (429).", ["org", "limit"]
)
RELAY_STARTS = Counter(
    "loyalty_relay_starts", "Workflow starts by the outbox relay, by result.", ["result"]
)
BACKLOG = Gauge(
    "loyalty_outbox_backlog",
    "Accepted, unsettled events: waiting to start, or started (in Temporal).",
    ["state"],
    multiprocess_mode="livemax",
)
BACKLOG_BY_ORG = Gauge(
    "loyalty_outbox_backlog_by_org",
    "Unsettled events of the orgs with the largest backlogs.",
    ["org"],
    multiprocess_mode="livemax",
)
OLDEST_UNSTARTED = Gauge(
    "loyalty_outbox_oldest_unstarted_seconds",
    "Age of the oldest event waiting to start (0 when none).",
    multiprocess_mode="livemax",
)
EFFECTS = Counter(
    "loyalty_effects",
    "Effect outcomes (grants and failures) by type, and a failure's reason.",
    ["type", "status", "reason"],
)
PLANNED = Counter(
    "loyalty_plans",
    "Planned actions by outcome: with effects to grant, or settled by the plan itself "
    "(processed with nothing to grant, skipped, or failed when planning gave up).",
    ["status", "reason"],
)
EVENTS_SETTLED = Counter(
    "loyalty_events_settled",
    "Events reaching their final status (processed, skipped, failed), by the kind of reason.",
    ["status", "reason"],
)
LIMIT_REFUSALS = Counter(
    "loyalty_limit_refusals", "Matched campaigns refused by one of their limits.", ["reason"]
)

MAX_ORGS = 50  # orgs named in labels per process; the rest are "other"
_named: set[str] = set()
_naming = threading.Lock()


def org_label(org_id: str) -> str:
    """The org's ID as a label value for the first ``MAX_ORGS`` orgs seen, else ``other``."""
    if org_id in _named:
        return org_id
    with _naming:
        if len(_named) < MAX_ORGS:
            _named.add(org_id)
            return org_id
    return "other"


def settled(status: str, reason: str | None) -> None:
    """Count an event's final status, each of its reasons reduced to its kind (the text
    before a colon: ``limit_reached`` of ``limit_reached:perUser``), so labels stay few."""
    kinds = sorted({part.split(":", 1)[0].strip() for part in (reason or "").split(",")})
    EVENTS_SETTLED.labels(status, ",".join(kinds)).inc()


def serve(host: str, port: int) -> None:
    """Serve /metrics on ``host:port`` from a thread; in multiprocess mode, every process'."""
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
