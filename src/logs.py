"""Structured logs: one JSON object per line (or a console view for people), each carrying the
org, event, request and workflow it concerns, with e-mail addresses and phone numbers scrubbed.

Code logs through the standard library (``logging.getLogger(__name__)``); what a line concerns
is bound to the task with ``structlog.contextvars`` (the API binds ``requestId`` and ``orgId``,
the activities ``orgId``, ``eventId`` and ``workflowId``) and merged into every line logged
meanwhile, with the ``traceId`` of the active span when tracing is on. Secrets and codes are never logged in the first place; the scrubber is the net
below that rule for what an exception message may quote.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, WrappedLogger

EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w+])\+\d[\d ().-]{6,}\d")


def scrub(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


def _scrub(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Scrubbed, and without uvicorn's terminal-coloured copy of the message."""
    return {
        k: scrub(v) if isinstance(v, str) else v for k, v in event.items() if k != "color_message"
    }


def _trace(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The trace a line was logged in, when tracing is on: from a line to its trace."""
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event["traceId"] = format(span.trace_id, "032x")
    return event


def formatter(log_format: str) -> logging.Formatter:
    """The formatter every handler of this process uses: JSON lines, or ``console``."""
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            _trace,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _scrub,
            renderer,
        ],
    )


def configure(level: str, log_format: str) -> None:
    """Route every logger of the process (ours, uvicorn's, Temporal's) through one handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
