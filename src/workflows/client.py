"""Temporal client and namespace setup shared by the API, the worker and the CLI."""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from src import tracing
from src.config import Settings
from src.workflows import search_attributes
from src.workflows.codec import data_converter

log = logging.getLogger(__name__)


async def connect(settings: Settings, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    """The process' client, sealing payloads with its keys; ``lazy`` connects on first use, so
    a process can start while Temporal is down."""
    return await Client.connect(
        settings.require_temporal_address(),
        namespace=settings.temporal_namespace,
        data_converter=data_converter(
            settings.require_payload_keys(), settings.payload_accept_unsealed
        ),
        lazy=lazy,
        runtime=runtime,
        interceptors=tracing.interceptors(settings),
    )


def sdk_metrics_runtime(settings: Settings) -> Runtime | None:
    """A runtime whose Temporal SDK metrics (task latencies, slots, polls…) Prometheus scrapes
    on the operator port ``TEMPORAL_SDK_METRICS_PORT``; None when that is 0."""
    if not settings.temporal_sdk_metrics_port:
        return None
    address = f"{settings.metrics_host}:{settings.temporal_sdk_metrics_port}"
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except ValueError as exc:  # the port is taken: the worker runs on, its operators see why
        log.error("cannot serve Temporal SDK metrics on %s: %s", address, exc)
        return None


async def register_search_attributes(client: Client) -> None:
    """Add the Loyalty* search attributes the namespace lacks; a no-op once they exist."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        # The SDK's enum shares the wire enum's numbers.
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in search_attributes.ALL
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
