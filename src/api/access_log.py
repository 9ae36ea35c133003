"""ASGI middleware: every request is counted and timed by route template and status
(``src/metrics.py``), gets an ID (the client's ``X-Request-ID`` when it is a plain
token, else a new one), bound to each log line it causes and echoed in the reply, and one access
line: method, route *template* (paths carry user IDs, which may be emails), status, duration and
the authenticated org. Never the query string, which may carry an email or a phone too."""

from __future__ import annotations

import logging
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.metrics import HTTP_REQUESTS, HTTP_SECONDS

log = logging.getLogger("loyalty.access")
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            return given if CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
    return uuid.uuid4().hex


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = 500  # unless a reply starts
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(requestId=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = getattr(scope.get("route"), "path", None) or "(no route)"
                seconds = time.perf_counter() - started
                method = scope["method"]
                HTTP_REQUESTS.labels(method, route, str(status)).inc()
                HTTP_SECONDS.labels(method, route).observe(seconds)
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "durationMs": round(seconds * 1000, 2),
                        "orgId": scope.get("state", {}).get("org_id"),
                    },
                )
