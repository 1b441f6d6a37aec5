"""OpenTelemetry traces across the bus: one trace per key press, from the edge through the
broker to the service's handler and back to the edge that applies the reply.

Off unless the standard OTEL_* variables ask for it (see `wanted`). Off, `tracer` is None and
every caller checks that one name before doing anything else: no span, no header, no
allocation on the hot path.

The context travels in the AMQP headers as W3C `traceparent` (the propagators OTEL_PROPAGATORS
names; tracecontext and baggage by default), added by the codec when it builds a message:

- an event takes the context its edge span registered for its event id (`begin`, `carry`),
  not whatever is current: a publish retried later runs in another call's lane task;
- a reply takes the current context, the service's span around the handler.

Free of aio-pika, so that the edge's core and dispatch can use it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer

from contracts.events import GatheredInput, KeyPress

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

# None: tracing is off (the default).
tracer: Tracer | None = None
_provider: TracerProvider | None = None

Carrier = dict[str, str]
# event id -> the context its message goes out with. Bounded: an event retried after this
# many newer ones (a long outage) goes without a trace rather than growing this forever.
_outgoing: dict[str, Carrier] = {}
OUTGOING_KEPT = 10_000

EXPORTERS = ("otlp", "console", "none")
INSTRUMENTATION = "dtmf-bus"


class TracingMisconfigured(ValueError):
    """OTEL_* variables ask for something this process cannot do."""


def wanted(env: Mapping[str, str]) -> bool:
    """Tracing is on when an exporter is named (other than none) or an OTLP endpoint is
    given, unless OTEL_SDK_DISABLED=true. Unlike the SDK's own default (otlp), nothing set
    means off: a process must not try to reach a collector nobody runs."""
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return False
    exporters = _exporters(env)
    if exporters:
        return exporters != ["none"]
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return any(env.get(name) for name in endpoints)


def _exporters(env: Mapping[str, str]) -> list[str]:
    raw = env.get("OTEL_TRACES_EXPORTER") or ""
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    for name in names:
        if name not in EXPORTERS:
            raise TracingMisconfigured(
                f"OTEL_TRACES_EXPORTER={raw!r}: {name!r} is not one of {', '.join(EXPORTERS)}"
            )
    return names


def start_from_env(service: str, env: Mapping[str, str] | None = None) -> None:
    """Turn tracing on in this process if OTEL_* ask for it; `service` is the service name
    unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) gives one. Once per process: a
    provider already installed (by an earlier call, or a test) stays."""
    env = os.environ if env is None else env
    if tracer is not None or not wanted(env):
        return
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
    for name in _exporters(env) or ["otlp"]:
        if name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(env)))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    install(provider)
    log.info("tracing on: %s", ", ".join(_exporters(env) or ["otlp"]))


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    if protocol and protocol != "http/protobuf":
        raise TracingMisconfigured(
            f"OTLP protocol {protocol!r}: only http/protobuf is installed (port 4318)"
        )
    # Endpoint, headers, timeout and compression come from OTEL_EXPORTER_OTLP_* themselves.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def install(provider: TracerProvider) -> None:
    """Trace with `provider` from now on (tests install one with an in-memory exporter).
    Not the global provider: VideoSDK's agents keep their own telemetry."""
    global tracer, _provider
    _provider = provider
    tracer = provider.get_tracer(INSTRUMENTATION)


def uninstall() -> None:
    global tracer, _provider
    tracer = _provider = None
    _outgoing.clear()


async def flush(timeout_s: float = 2.0) -> None:
    """Export what is buffered (a stopping process), without blocking the loop."""
    if _provider is not None:
        await asyncio.to_thread(_provider.force_flush, int(timeout_s * 1000))


# --- the edge: a span from a press (or a gathered input) to its reply ---------------------


def begin(event: KeyPress | GatheredInput, *, parent: Carrier | None = None) -> Span | None:
    """Start the span of an event awaiting its reply: a new trace for a press, a gather's
    (`parent`) for its input. The event's message goes out carrying it. None when off."""
    if tracer is None:
        return None
    attributes: dict[str, str | int] = {
        "dtmf.call_id": event.call_id,
        "dtmf.event_id": event.event_id,
        "dtmf.event_type": event.type,
        "dtmf.sequence": event.sequence,
        "dtmf.source": event.source,
    }
    if isinstance(event, KeyPress):
        name = f"press {event.key}"  # a press outside a gather: never a secret digit
        attributes["dtmf.key"] = event.key
    else:
        name = f"input {event.name}"  # its digits stay out: they may be a card number
        attributes["dtmf.input.reason"] = event.reason
    context = propagate.extract(parent) if parent else Context()
    span = tracer.start_span(name, context=context, kind=SpanKind.PRODUCER, attributes=attributes)
    carrier: Carrier = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    carry(event.event_id, carrier)
    return span


def carry(event_id: str, carrier: Carrier | None) -> None:
    """Send the event `event_id` with this context (a press a gather collects: the gather's)."""
    if tracer is None or not carrier:
        return
    _outgoing[event_id] = carrier
    if len(_outgoing) > OUTGOING_KEPT:
        del _outgoing[next(iter(_outgoing))]


def finish(span: Span | None, *, outcome: str) -> None:
    if span is None:
        return
    span.set_attribute("dtmf.outcome", outcome)
    span.end()


def failed(span: Span | None, why: str) -> None:
    if span is not None:
        span.set_status(StatusCode.ERROR, why)


def exemplar(span: Span | None) -> dict[str, str] | None:
    """The exemplar labels of an observation made for this span: its trace id."""
    if span is None:
        return None
    context = span.get_span_context()
    return {"trace_id": trace.format_trace_id(context.trace_id)} if context.is_valid else None


def current_carrier() -> Carrier | None:
    """The current context, to continue it later (a gather started by a reply)."""
    if tracer is None:
        return None
    carrier: Carrier = {}
    propagate.inject(carrier)
    return carrier or None


# --- the codec: headers in, headers out --------------------------------------------------


def inject_event(event_id: str, headers: dict[str, object]) -> None:
    carrier = _outgoing.get(event_id)
    if carrier:
        headers.update(carrier)


def inject_current(headers: dict[str, object]) -> None:
    propagate.inject(headers)


class _HeaderGetter(Getter[Mapping[str, object]]):
    """AMQP header values may arrive as bytes (a long string that is not UTF-8 text to the
    decoder) or not as strings at all: only text is a trace context."""

    def get(self, carrier: Mapping[str, object], key: str) -> list[str] | None:
        value = carrier.get(key)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, object]) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()


@contextmanager
def consuming(
    group: str,
    consumer: str,
    headers: Mapping[str, object] | None,
    *,
    exchange: str | None,
    routing_key: str | None,
    message_id: str | None,
) -> Iterator[Span]:
    """The span of one delivery to `consumer` (of `group`: a service, or `edge`), a child
    of the context its headers carry. Tracing on only."""
    assert tracer is not None
    context = propagate.extract(headers or {}, getter=_GETTER)
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": exchange or "",
        "messaging.rabbitmq.destination.routing_key": routing_key or "",
        "messaging.message.id": message_id or "",
        "messaging.consumer.group.name": group,
        "dtmf.consumer": consumer,  # which edge, for an edge's reply queue
    }
    with tracer.start_as_current_span(
        f"process {group}", context=context, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


@contextmanager
def handling(service: str, *, call_id: str, event_id: str, event_type: str) -> Iterator[Span]:
    """The span of a service's handler and its reply. Tracing on only."""
    assert tracer is not None
    attributes = {
        "dtmf.service": service,
        "dtmf.call_id": call_id,
        "dtmf.event_id": event_id,
        "dtmf.event_type": event_type,
    }
    with tracer.start_as_current_span(f"handle {service}", attributes=attributes) as span:
        yield span


@contextmanager
def sending(exchange: str, *, routing_key: str, message_id: str) -> Iterator[Span]:
    """The span of publishing a reply; the reply's headers carry it. Tracing on only."""
    assert tracer is not None
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": exchange,
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "messaging.message.id": message_id,
    }
    with tracer.start_as_current_span(
        f"send {exchange}", kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield span
