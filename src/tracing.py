"""OpenTelemetry tracing, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: an action's request,
its SQL, the outbox hand-over (the request's trace context is stored on the event row), the
relay's start and the workflow's activities with their SQL, in one trace.

Spans follow the logs' redaction rules (``src/logs.py``) at the one place they leave the
process, the exporter: URLs become their route template (paths carry user IDs, emails, phones
and codes; query strings are dropped) and every other text is scrubbed of emails and phones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from opentelemetry import context, metrics, propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.contrib.opentelemetry import TracingInterceptor

from src.config import Settings
from src.logs import scrub

# Attributes that hold a request's URL or part of it, old and current semantic conventions.
URL_ATTRIBUTES = frozenset(
    {"http.target", "http.url", "url.full", "url.path", "url.query", "http.request.uri"}
)
SERVICE = "loyalty-engine"

_provider: TracerProvider | None = None  # one per process, as OpenTelemetry expects


def provider(settings: Settings) -> TracerProvider | None:
    """The process' tracer provider, exporting OTLP over HTTP to the configured endpoint;
    None when tracing is off."""
    global _provider
    if not settings.otel_exporter_otlp_endpoint:
        return None
    if _provider is None:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        _provider = redacting_provider(OTLPSpanExporter(endpoint=endpoint), BatchSpanProcessor)
    return _provider


def redacting_provider(
    exporter: SpanExporter, processor: Callable[[SpanExporter], SpanProcessor]
) -> TracerProvider:
    """A provider whose spans reach ``exporter`` redacted (``OTEL_SERVICE_NAME`` names the
    service, ``loyalty-engine`` by default)."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: SERVICE}))
    made = TracerProvider(resource=resource)
    made.add_span_processor(processor(Redacting(exporter)))
    return made


class Redacting(SpanExporter):
    """Exports every span with its URLs reduced to the route and its texts scrubbed."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redact(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def redact(span: ReadableSpan) -> ReadableSpan:
    status = span.status
    if status.description:
        status = Status(status.status_code, scrub(status.description))
    return ReadableSpan(
        name=scrub(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_clean(span.attributes or {}),
        events=[Event(e.name, _clean(e.attributes or {}), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    route = attributes.get("http.route")
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in URL_ATTRIBUTES:
            if route and key in ("http.target", "url.path"):
                cleaned[key] = route
            continue
        if isinstance(value, str):
            value = scrub(value)
        elif isinstance(value, (list, tuple)):
            value = [scrub(v) if isinstance(v, str) else v for v in value]
        cleaned[key] = value
    return cleaned


def instrument_app(app: FastAPI, settings: Settings) -> None:
    """Trace the API's requests (health probes excluded); before the app serves."""
    traced = provider(settings)
    if traced is not None:
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=traced,
            excluded_urls="/healthz,/readyz",
            exclude_spans=["receive", "send"],
        )


def instrument_engine(engine: AsyncEngine, settings: Settings) -> None:
    """Trace the engine's statements (their text, never their parameters)."""
    traced = provider(settings)
    if traced is not None:
        usage = metrics.get_meter(__name__).create_up_down_counter("db.client.connections.usage")
        EngineTracer(traced.get_tracer(__name__), engine.sync_engine, usage)  # type: ignore[no-untyped-call]


def interceptors(settings: Settings) -> list[TracingInterceptor]:
    """Temporal's tracing: a client span per start, and the workflow's and activities' spans
    under it (the context travels in Temporal headers)."""
    traced = provider(settings)
    return [] if traced is None else [TracingInterceptor(traced.get_tracer(__name__))]


def current_parent() -> str | None:
    """The W3C ``traceparent`` of the active span, to store with what continues the trace
    later (the outbox row); None when nothing is traced."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def continuing(parent: str | None) -> Iterator[None]:
    """Run the block inside the trace ``parent`` (a stored ``traceparent``), if any."""
    if parent is None:
        yield
        return
    token = context.attach(propagate.extract({"traceparent": parent}))
    try:
        yield
    finally:
        context.detach(token)
