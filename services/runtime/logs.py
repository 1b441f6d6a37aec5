"""Log lines as JSON (`DTMF_LOG_FORMAT=json`), one object a line, for Loki and the like.

Each line carries, where known, the call and event it is about, the service, and the trace
and span ids of the current span (so a log line leads to its trace). Call, event and service
are context variables, set where a press, a delivery or a service is handled (`bind`):
asyncio gives each task a copy of its creator's context, so they follow the work into the
tasks it starts and never leak into another delivery's (each runs in a task of its own).
A record's own `extra={"event_id": ...}` wins over the context.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime

from opentelemetry import trace

from services.runtime.settings import SettingsError

FORMATS = ("text", "json")
FIELDS = ("call_id", "event_id", "service")

_call_id: ContextVar[str | None] = ContextVar("dtmf_call_id", default=None)
_event_id: ContextVar[str | None] = ContextVar("dtmf_event_id", default=None)
_service: ContextVar[str | None] = ContextVar("dtmf_service", default=None)
_VARS = {"call_id": _call_id, "event_id": _event_id, "service": _service}


class BadLogFormat(SettingsError):
    """DTMF_LOG_FORMAT names no format."""


def log_format(env: Mapping[str, str]) -> str:
    raw = (env.get("DTMF_LOG_FORMAT") or "text").strip().lower()
    if raw not in FORMATS:
        raise BadLogFormat(f"DTMF_LOG_FORMAT={raw!r} is not one of {', '.join(FORMATS)}")
    return raw


def bind(
    *, call_id: str | None = None, event_id: str | None = None, service: str | None = None
) -> None:
    """Set the fields given for the rest of this task (and the tasks it starts)."""
    if call_id is not None:
        _call_id.set(call_id)
    if event_id is not None:
        _event_id.set(event_id)
    if service is not None:
        _service.set(service)


def fields() -> dict[str, str]:
    """The fields known here: call, event, service, trace and span."""
    found = {name: value for name, var in _VARS.items() if (value := var.get()) is not None}
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        found["trace_id"] = trace.format_trace_id(context.trace_id)
        found["span_id"] = trace.format_span_id(context.span_id)
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the known fields, and the
    exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(fields())
        for name in FIELDS:  # a record's extra= wins over the context
            if (value := record.__dict__.get(name)) is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def use_format(name: str, *, logger: logging.Logger | None = None) -> None:
    """Format every handler of `logger` (the root's by default) as `name` says."""
    if name != "json":
        return
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(JsonFormatter())
