"""Prometheus metrics: what a guide flow counts, the backlog gauges, rate-limit refusals,
the operator-only endpoints (the API's own port has no /metrics), and the SDK's metrics."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from src import metrics
from src.config import Settings
from src.store import orgs
from src.store import status as store_status
from src.worker import sample_backlog
from src.workflows.client import connect, sdk_metrics_runtime
from tests.guide import FLOW_ACTION, post_action, setup_guide
from tests.support import (
    ACTIONS,
    Tenant,
    free_port,
    make_tenant,
    metric,
    settled_count,
    workflow_result,
)


@pytest.fixture(autouse=True)
def _orgs_labelled_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process names its first ``MAX_ORGS`` orgs in labels: each test's org is among them,
    however many orgs the tests before it made."""
    monkeypatch.setattr(metrics, "_named", set())


async def test_a_guide_flow_is_counted(tenant: Tenant, client: Client) -> None:
    await setup_guide(tenant)
    route = {"method": "POST", "route": ACTIONS, "status": "202"}
    before = {
        "requests": metric("loyalty_http_requests_total", **route),
        "codes": metric("loyalty_effects_total", type="allocate_code", status="granted", reason=""),
        "plans": metric("loyalty_plans_total", status="processing", reason=""),
        "starts": metric("loyalty_relay_starts_total", result="started"),
        "settled": settled_count("processed"),
    }
    event_id = await post_action(tenant, FLOW_ACTION)
    # The run ends after its activities counted (the event settles before they count).
    assert await workflow_result(client, event_id) == "processed"
    assert metric("loyalty_http_requests_total", **route) == before["requests"] + 1
    assert metric("loyalty_actions_accepted_total", org=tenant.org_id) == 1
    codes = metric("loyalty_effects_total", type="allocate_code", status="granted", reason="")
    assert codes == before["codes"] + 1
    assert metric("loyalty_plans_total", status="processing", reason="") == before["plans"] + 1
    assert metric("loyalty_relay_starts_total", result="started") >= before["starts"] + 1
    # Other tests' events settle meanwhile: exactly once is shown in test_grants.py.
    assert settled_count("processed") >= before["settled"] + 1
    latency = {"method": "POST", "route": ACTIONS}
    assert metric("loyalty_http_request_duration_seconds_count", **latency) >= 1


@pytest.mark.serial  # 4 requests within 2 s
async def test_refusals_by_a_rate_limit_are_counted(engine: AsyncEngine, api_url: str) -> None:
    tenant = await make_tenant(engine, api_url)
    async with engine.begin() as conn:
        await orgs.set_rate_limit(conn, tenant.org_id, 1, 1)
    replies = [await tenant.http.get("/v1/users/nobody") for _ in range(4)]
    await tenant.http.aclose()
    refused = sum(r.status_code == 429 for r in replies)
    assert refused >= 2
    counted = sum(  # the key's own budget (the org's by default) runs out first
        metric("loyalty_rate_limited_total", org=tenant.org_id, limit=limit)
        for limit in ("key", "organisation")
    )
    assert counted == refused


async def test_backlog_gauges_follow_the_outbox(engine: AsyncEngine) -> None:
    stop = asyncio.Event()
    sampling = asyncio.create_task(sample_backlog(engine, stop))
    await asyncio.sleep(0.5)
    stop.set()
    await sampling
    async with engine.connect() as conn:
        now = await store_status.backlog(conn)
    # The session's other tests move the outbox meanwhile: the gauges hold a recent reading.
    assert metric("loyalty_outbox_backlog", state="unstarted") >= 0
    assert abs(metric("loyalty_outbox_backlog", state="in_flight") - now.in_flight) < 1000
    assert metric("loyalty_outbox_oldest_unstarted_seconds") >= 0


async def test_metrics_are_served_on_an_operator_port_only(api_url: str) -> None:
    port = free_port()
    metrics.serve("127.0.0.1", port)
    async with httpx.AsyncClient() as http:
        served = await http.get(f"http://127.0.0.1:{port}/metrics")
        public = await http.get(f"{api_url}/metrics")
    assert served.status_code == 200
    assert "loyalty_http_requests_total" in served.text
    assert public.status_code == 404


async def test_the_worker_serves_temporal_sdk_metrics(settings: Settings) -> None:
    port = free_port()
    runtime = sdk_metrics_runtime(settings.model_copy(update={"temporal_sdk_metrics_port": port}))
    assert runtime is not None
    client = await connect(settings, runtime=runtime)
    await client.count_workflows()  # a request for the SDK to count
    async with httpx.AsyncClient() as http:
        served = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert served.status_code == 200 and "temporal_request" in served.text


def test_a_busy_sdk_metrics_port_is_reported_not_fatal(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = settings.model_copy(update={"temporal_sdk_metrics_port": taken.getsockname()[1]})
        assert sdk_metrics_runtime(busy) is None
