"""One trace per key press across the real broker: the edge's press span, the service's
delivery, handler and reply spans, and the edge's delivery of the reply, joined by the
`traceparent` the messages carry; through the alternate exchange to the menu, and on through
a gather to the input it collects. Spans go to an in-memory exporter."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id
from prometheus_client.parser import text_string_to_metric_families

from services.billing import service as billing
from services.billing.service import ASK, balance_sentence
from services.edge.bus import running_edge
from services.runtime import tracing
from tests.integration.conftest import System
from tests.support import INVALID_INPUT, RecordingSession

REPLY_S = 5.0
SALES = "Routing you to Sales..."
Done = Callable[[Sequence[ReadableSpan]], bool]


class Finished(SpanProcessor):
    """Wakes a test up whenever a span ends (spans end on the loop's thread)."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    def on_end(self, span: ReadableSpan) -> None:
        self.changed.set()


class Spans:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.finished = Finished()

    @property
    def ended(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    async def until(self, done: Done, *, timeout: float = REPLY_S) -> tuple[ReadableSpan, ...]:
        async with asyncio.timeout(timeout):
            while not done(self.ended):
                self.finished.changed.clear()
                await self.finished.changed.wait()
        return self.ended


@pytest.fixture
async def spans() -> AsyncIterator[Spans]:
    collected = Spans()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(collected.exporter))
    provider.add_span_processor(collected.finished)
    tracing.install(provider)
    try:
        yield collected
    finally:
        tracing.uninstall()
        provider.shutdown()


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    [span] = named(spans, name)
    return span


def child_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    return (
        child.parent is not None
        and child.context is not None
        and parent.context is not None
        and child.context.trace_id == parent.context.trace_id
        and child.parent.span_id == parent.context.span_id
    )


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan, name: str) -> list[ReadableSpan]:
    return [s for s in spans if child_of(s, parent) and s.name.startswith(name)]


def in_trace(span: ReadableSpan, trace_id: int) -> bool:
    return span.context is not None and span.context.trace_id == trace_id


def round_trip(ended: Sequence[ReadableSpan], root: ReadableSpan, service: str) -> bool:
    """root -> the service's delivery -> its handler -> its reply -> the edge's delivery."""
    return any(
        children(ended, sent, "process edge")
        for delivered in children(ended, root, f"process {service}")
        for handled in children(ended, delivered, f"handle {service}")
        for sent in children(ended, handled, "send dtmf.replies")
    )


async def ended_round_trip(spans: Spans, root_name: str, service: str) -> ReadableSpan:
    """The span named `root_name` once it and its whole round trip through `service` ended."""

    def done(ended: Sequence[ReadableSpan]) -> bool:
        return any(round_trip(ended, root, service) for root in named(ended, root_name))

    return one(await spans.until(done), root_name)


def assert_replied(ended: Sequence[ReadableSpan], root: ReadableSpan, service: str) -> None:
    [delivered] = children(ended, root, f"process {service}")
    assert delivered.kind is SpanKind.CONSUMER
    [handled] = children(ended, delivered, f"handle {service}")
    [sent] = children(ended, handled, "send dtmf.replies")
    assert sent.kind is SpanKind.PRODUCER
    [back] = children(ended, sent, "process edge")
    assert back.attributes is not None and back.attributes["dtmf.outcome"] == "replied"
    # The root span stays open until the edge applied the reply, inside that delivery.
    assert root.end_time is not None and back.start_time is not None
    assert root.end_time >= back.start_time
    assert root.attributes is not None and root.attributes["dtmf.outcome"] == "replied"


async def test_a_press_is_one_trace_from_the_edge_to_the_service_and_back(
    spans: Spans, system: System
) -> None:
    edge = await system.start_edge("edge-traced")
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    await edge.press(call, "1")
    assert await session.said_count(1, timeout=REPLY_S) == [SALES]

    press = await ended_round_trip(spans, "press 1", "sales")
    assert press.parent is None, "a press starts a trace of its own"
    assert press.kind is SpanKind.PRODUCER
    assert press.attributes is not None
    assert (press.attributes["dtmf.call_id"], press.attributes["dtmf.key"]) == (call.call_id, "1")
    assert_replied(spans.ended, press, "sales")
    # The call log taps the same press: its delivery joins the trace too.
    await spans.until(lambda ended: bool(children(ended, press, "process calllog")))


async def test_a_press_nobody_handles_reaches_the_menu_in_the_same_trace(
    spans: Spans, system: System
) -> None:
    edge = await system.start_edge("edge-traced")
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    await edge.press(call, "9")  # no service binds 9: the alternate exchange takes it
    assert await session.said_count(1, timeout=REPLY_S) == [INVALID_INPUT]

    press = await ended_round_trip(spans, "press 9", "menu")
    assert_replied(spans.ended, press, "menu")
    [delivered] = children(spans.ended, press, "process menu")
    assert delivered.attributes is not None
    # As published (the broker reports the first exchange); the menu's queue is bound to
    # dtmf.unrouted alone, so it came through the alternate exchange with its headers.
    attributes = delivered.attributes
    assert attributes["messaging.destination.name"] == "dtmf.events"
    assert attributes["messaging.rabbitmq.destination.routing_key"] == "dtmf.9"


async def test_a_gathered_input_joins_the_trace_of_the_press_that_asked_for_it(
    spans: Spans, system: System
) -> None:
    await system.start_service(billing.build(system.settings))
    edge = await system.start_edge("edge-traced")
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    await edge.press(call, "3")
    assert await session.said_count(1, timeout=REPLY_S) == [ASK]
    for key in "4321#":
        await edge.press(call, key)
    assert (await session.said_count(2, timeout=REPLY_S))[1] == balance_sentence("4321")

    press = await ended_round_trip(spans, "press 3", "billing")
    gathered = await ended_round_trip(spans, "input account", "billing")
    assert press.context is not None and in_trace(gathered, press.context.trace_id)
    assert_replied(spans.ended, press, "billing")
    assert_replied(spans.ended, gathered, "billing")
    # Started by the reply that asked for it, as the edge applied it.
    assert gathered.parent is not None
    [asked] = [s for s in spans.ended if s.context and s.context.span_id == gathered.parent.span_id]
    assert asked.name.startswith("process edge") and in_trace(asked, press.context.trace_id)
    assert gathered.attributes is not None and "4321" not in str(gathered.attributes)
    # The collected presses (4 digits and #) went out in that trace as well: the call log's
    # deliveries of them, the press and the input are all in it.
    trace_id = press.context.trace_id
    await spans.until(
        lambda ended: sum(in_trace(s, trace_id) for s in named(ended, "process calllog")) == 7
    )


async def test_press_to_reply_observations_carry_the_trace_id_as_exemplar(
    spans: Spans, system: System
) -> None:
    served = replace(system.settings, edge_id="edge-scraped", http_port=0, http_host="127.0.0.1")
    edge = await system.stack.enter_async_context(running_edge(served))
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    await edge.press(call, "2")
    await session.said_count(1, timeout=REPLY_S)
    press = await ended_round_trip(spans, "press 2", "support")
    assert press.context is not None
    url = f"http://127.0.0.1:{edge.http_port}/metrics"

    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(
            url,
            headers={"Accept": "application/openmetrics-text", "Accept-Encoding": "gzip"},
        ) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            assert r.headers["Content-Encoding"] == "gzip"
            openmetrics = gzip.decompress(await r.read()).decode()
        # A scraper that asks for no format and no compression: the text format, as is.
        async with http.get(url, headers={"Accept-Encoding": "identity"}) as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            assert "Content-Encoding" not in r.headers
            plain = (await r.read()).decode()

    trace_id = format_trace_id(press.context.trace_id)
    buckets = [
        line
        for line in openmetrics.splitlines()
        if line.startswith("dtmf_press_to_reply_seconds_bucket") and " # " in line
    ]
    assert buckets, "no exemplar on dtmf_press_to_reply_seconds"
    assert any(f'# {{trace_id="{trace_id}"}}' in line for line in buckets)
    assert openmetrics.rstrip().endswith("# EOF")
    # The text format has no exemplars, and still parses as before.
    assert "trace_id" not in plain
    families = {f.name: f for f in text_string_to_metric_families(plain)}
    count = next(
        s.value
        for s in families["dtmf_press_to_reply_seconds"].samples
        if s.name == "dtmf_press_to_reply_seconds_count"
    )
    assert count == 1
