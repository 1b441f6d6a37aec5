"""Tracing without a broker: when it is on, what the codec puts in the headers, and the edge's
press span from the press to its reply or its timeout."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from contracts import KeyPress, Reply, Say
from contracts.base import utcnow
from services.edge.edge import TIMEOUT_PROMPT, Edge
from services.runtime import tracing
from services.runtime.amqp.codec import to_message
from services.runtime.metrics import Metrics
from tests.fakes import RecordingPublisher
from tests.support import RecordingSession


def answer(press: KeyPress) -> Reply:
    return Reply(
        call_id=press.call_id, in_reply_to=press.event_id, service="sales", actions=[Say(text="ok")]
    )


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "sales"}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_otel_variables_ask_for_it(env: dict[str, str], on: bool) -> None:
    assert tracing.wanted(env) is on


def test_an_unknown_exporter_or_protocol_fails_loudly() -> None:
    with pytest.raises(tracing.TracingMisconfigured, match="zipkin"):
        tracing.wanted({"OTEL_TRACES_EXPORTER": "zipkin"})
    grpc = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(tracing.TracingMisconfigured, match="http/protobuf"):
        tracing.start_from_env("dtmf-sales", grpc)
    assert tracing.tracer is None


def test_start_from_env_names_the_service_unless_otel_does() -> None:
    try:
        tracing.start_from_env("dtmf-sales", {"OTEL_TRACES_EXPORTER": "console"})
        assert tracing.tracer is not None
        assert tracing._provider is not None
        assert tracing._provider.resource.attributes["service.name"] == "dtmf-sales"
    finally:
        if tracing._provider is not None:
            tracing._provider.shutdown()  # its exporting thread
        tracing.uninstall()


def test_off_the_codec_adds_no_trace_header() -> None:
    now = utcnow()
    press = KeyPress(
        call_id="c",
        reply_to="e",
        source="simulator",
        key="1",
        sequence=1,
        pressed_at=now,
        received_at=now,
    )
    assert to_message(press).headers == {"x-schema-version": press.schema_version}


def test_a_reply_carries_the_span_it_was_sent_in(exporter: InMemorySpanExporter) -> None:
    reply = Reply(call_id="c", in_reply_to="e1", service="sales", actions=[Say(text="hi")])
    assert tracing.tracer is not None
    with tracing.tracer.start_as_current_span("handle sales") as span:
        headers = to_message(reply).headers
    context = span.get_span_context()
    assert str(headers["traceparent"]).startswith(
        f"00-{format_trace_id(context.trace_id)}-{format_span_id(context.span_id)}-"
    )


async def test_a_press_span_runs_from_the_press_to_its_reply(
    exporter: InMemorySpanExporter,
) -> None:
    published = RecordingPublisher()
    edge = Edge(edge_id="edge-a", publisher=published, metrics=Metrics())
    call = await edge.start_call(RecordingSession(), source="simulator")
    press = (await edge.press(call, "1")).event
    # The press's message carries the press span, however late it is published.
    headers = to_message(published.events[-1]).headers
    assert isinstance(headers["traceparent"], str)
    assert exporter.get_finished_spans() == ()  # open until the reply

    await edge.apply_reply(answer(press))
    [span] = exporter.get_finished_spans()
    assert span.name == "press 1" and span.attributes is not None
    assert span.attributes["dtmf.outcome"] == "replied"
    assert span.context is not None
    assert format_span_id(span.context.span_id) in str(headers["traceparent"])
    # The observation of its press-to-reply time names the trace.
    [bucket] = [
        s
        for metric in edge.metrics.registry.collect()
        for s in metric.samples
        if s.name == "dtmf_press_to_reply_seconds_bucket" and s.exemplar is not None
    ]
    assert bucket.exemplar is not None
    assert bucket.exemplar.labels == {"trace_id": format_trace_id(span.context.trace_id)}


async def test_a_press_left_unanswered_ends_its_span_as_an_error(
    exporter: InMemorySpanExporter,
) -> None:
    edge = Edge(
        edge_id="edge-a", publisher=RecordingPublisher(), metrics=Metrics(), reply_timeout_s=0.05
    )
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    await edge.press(call, "7")
    assert await session.said_count(1, timeout=2) == [TIMEOUT_PROMPT]
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["dtmf.outcome"] == "unanswered"
    assert span.status.status_code is StatusCode.ERROR


async def test_off_a_press_has_no_span_and_no_exemplar() -> None:
    published = RecordingPublisher()
    edge = Edge(edge_id="edge-a", publisher=published, metrics=Metrics())
    call = await edge.start_call(RecordingSession(), source="simulator")
    press = (await edge.press(call, "1")).event
    assert call.pending[press.event_id].span is None
    await edge.apply_reply(answer(press))
    assert "traceparent" not in (to_message(press).headers or {})
    exemplars = [
        s.exemplar
        for metric in edge.metrics.registry.collect()
        for s in metric.samples
        if s.exemplar is not None
    ]
    assert exemplars == []


async def test_an_event_published_later_still_carries_its_own_press(
    exporter: InMemorySpanExporter,
) -> None:
    """A retried publish runs in another task (a call's lane): the header comes from the
    event's own span, never from whatever span is current there."""
    published = RecordingPublisher()
    edge = Edge(edge_id="edge-a", publisher=published, metrics=Metrics())
    call = await edge.start_call(RecordingSession(), source="simulator")
    first = (await edge.press(call, "1")).event
    second = (await edge.press(call, "2")).event
    assert tracing.tracer is not None

    async def publish_later(event: KeyPress) -> str:
        with tracing.tracer.start_as_current_span("unrelated"):  # type: ignore[union-attr]
            return str(to_message(event).headers["traceparent"])

    headers = await asyncio.gather(publish_later(first), publish_later(second))
    spans = {p.event_id: call.pending[p.event_id].span for p in (first, second)}
    for event, header in zip((first, second), headers, strict=True):
        span = spans[event.event_id]
        assert span is not None
        assert format_span_id(span.get_span_context().span_id) in header
