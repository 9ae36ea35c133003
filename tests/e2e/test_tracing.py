"""Tracing: one trace from an action's POST through the outbox to its last effect, and no
secret, code, email or phone in any span."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from src import tracing
from src.config import Settings
from src.store.db import make_engine
from src.workflows.client import connect
from tests.guide import FLOW_ACTION, post_action, setup_guide
from tests.support import ACTIONS, api_server, make_tenant, worker_and_relay, workflow_result

EMAIL, PHONE = "user_123@example.com", "+447700900123"


def descendants(spans: list[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    """``root`` and every span under it, by parent links."""
    children: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        if span.parent is not None:
            children.setdefault(span.parent.span_id, []).append(span)
    found, todo = [], [root]
    while todo:
        span = todo.pop()
        found.append(span)
        todo.extend(children.get(span.context.span_id, []))
    return found


async def test_one_trace_from_post_to_the_last_effect(
    fresh_database: Callable[[], Awaitable[str]],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    monkeypatch.setattr(
        tracing, "_provider", tracing.redacting_provider(exporter, SimpleSpanProcessor)
    )
    traced = settings.model_copy(
        update={
            "database_url": await fresh_database(),
            "task_queue": "loyalty-tracing-test",
            "otel_exporter_otlp_endpoint": "http://127.0.0.1:4318",  # set: tracing on
        }
    )
    engine = make_engine(traced.require_database_url(), 4)
    tracing.instrument_engine(engine, traced)
    client = await connect(traced)
    async with api_server(traced) as base_url, worker_and_relay(client, engine, traced):
        tenant = await make_tenant(engine, base_url)
        await setup_guide(tenant)
        looked_up = await tenant.http.get(f"/v1/users/{EMAIL}", params={"phone": PHONE})
        assert looked_up.status_code in (200, 404)
        event_id = await post_action(tenant, FLOW_ACTION)
        assert await workflow_result(client, event_id) == "processed"
        user = (await tenant.http.get("/v1/users/user_123")).json()
        await tenant.http.aclose()
    await engine.dispose()
    spans = list(exporter.get_finished_spans())

    post = next(
        s
        for s in spans
        if s.kind == SpanKind.SERVER and s.attributes and s.attributes.get("http.route") == ACTIONS
    )
    trace = descendants(spans, post)
    assert {s.context.trace_id for s in trace} == {post.context.trace_id}
    names = [s.name for s in trace]
    assert "StartWorkflow:ProcessAction" in names  # the relay's start, from the outbox row
    assert "RunWorkflow:ProcessAction" in names
    assert names.count("RunActivity:plan_action") == 1
    assert names.count("RunActivity:apply_effect") == 3  # every effect, the last included
    effects = [s for s in trace if s.name == "RunActivity:apply_effect"]
    sql_under_effects = [s for e in effects for s in descendants(spans, e) if s is not e]
    assert sql_under_effects and all(s.attributes.get("db.system") for s in sql_under_effects)

    codes = user["codes"]
    assert codes
    everything = "\n".join(s.to_json() for s in spans)
    for secret in (tenant.secret, EMAIL, PHONE, "user_123%40example.com", *codes):
        assert secret not in everything, secret
