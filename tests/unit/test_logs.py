"""DTMF_LOG_FORMAT=json: one JSON object a line, with the call, event, service, trace and
span a line is about wherever they are known."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

from contracts import Action, KeyPress, Reply, Say
from contracts.base import utcnow
from services.edge.edge import Edge
from services.runtime import logs
from services.runtime.dispatch import Dispatcher
from services.runtime.metrics import Metrics
from services.runtime.service import ConsumerService, keys
from services.runtime.settings import SettingsError
from tests.fakes import RecordingPublisher
from tests.support import RecordingSession

handler_log = logging.getLogger("tests.unit.test_logs.handler")


class JsonLines:
    """What the loggers under test wrote, through the JSON formatter, parsed back."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def saying(self, text: str) -> dict[str, object]:
        [line] = [line for line in self.lines() if text in str(line["message"])]
        return line


@pytest.fixture
def written() -> Iterator[JsonLines]:
    lines = JsonLines()
    handler = logging.StreamHandler(lines.stream)
    loggers = [handler_log, logging.getLogger("services.edge.edge")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logs.use_format("json", logger=logger)
    try:
        yield lines
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def a_press(key: str = "1") -> KeyPress:
    now = utcnow()
    return KeyPress(
        call_id="call-7",
        reply_to="edge-a",
        source="simulator",
        key=key,
        sequence=1,
        pressed_at=now,
        received_at=now,
    )


async def logging_handler(press: KeyPress) -> list[Action]:
    handler_log.info("handling key %s", press.key)
    return [Say(text="ok")]


def sales_dispatcher() -> Dispatcher:
    async def send_reply(reply: Reply, edge_id: str) -> None:
        handler_log.info("reply %s sent", reply.reply_id)

    service = ConsumerService(name="sales", bindings=keys("1"), handler=logging_handler)
    return Dispatcher(service, send_reply=send_reply, max_age=None)


def test_text_is_the_default_and_json_is_asked_for() -> None:
    assert logs.log_format({}) == "text"
    assert logs.log_format({"DTMF_LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(SettingsError, match="DTMF_LOG_FORMAT"):
        logs.log_format({"DTMF_LOG_FORMAT": "logfmt"})


async def test_a_handlers_lines_name_its_call_event_and_service(written: JsonLines) -> None:
    press = a_press()
    # As the runner does: each delivery is handled in a task of its own.
    await asyncio.ensure_future(sales_dispatcher()(press))
    line = written.saying("handling key 1")
    assert line["level"] == "INFO" and line["logger"] == handler_log.name
    assert (line["call_id"], line["event_id"], line["service"]) == (
        "call-7",
        press.event_id,
        "sales",
    )
    assert "trace_id" not in line  # tracing is off
    # The fields stayed with that delivery's task.
    handler_log.info("between deliveries")
    assert "call_id" not in written.saying("between deliveries")


async def test_with_tracing_on_a_line_names_its_trace_and_span(
    written: JsonLines, exporter: InMemorySpanExporter
) -> None:
    await asyncio.ensure_future(sales_dispatcher()(a_press()))
    [handled] = [s for s in exporter.get_finished_spans() if s.name == "handle sales"]
    assert handled.context is not None
    for text in ("handling key 1", "sent"):
        line = written.saying(text)
        assert line["trace_id"] == format_trace_id(handled.context.trace_id)
        assert line["span_id"] == format_span_id(handled.context.span_id)


async def test_the_edges_lines_about_a_reply_name_its_call_and_press(written: JsonLines) -> None:
    edge = Edge(edge_id="edge-a", publisher=RecordingPublisher(), metrics=Metrics())
    call = await edge.start_call(RecordingSession(), source="simulator")
    press = (await edge.press(call, "1")).event

    reply = Reply(
        call_id=call.call_id, in_reply_to=press.event_id, service="sales", actions=[Say(text="x")]
    )

    async def deliver_twice() -> None:
        await edge.apply_reply(reply)
        await edge.apply_reply(reply)  # logs the duplicate

    await asyncio.ensure_future(deliver_twice())
    duplicate = written.saying("duplicate reply")
    assert (duplicate["call_id"], duplicate["event_id"]) == (call.call_id, press.event_id)


def test_a_records_own_fields_win_over_the_context(written: JsonLines) -> None:
    handler_log.warning("about one event", extra={"event_id": "e-9", "call_id": "c-9"})
    line = written.saying("about one event")
    assert (line["call_id"], line["event_id"]) == ("c-9", "e-9")


def test_an_exception_is_kept_in_its_line(written: JsonLines) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        handler_log.exception("it failed")
    line = written.saying("it failed")
    assert line["level"] == "ERROR"
    assert "RuntimeError: boom" in str(line["exception"])


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_setup_logging_follows_dtmf_log_format(fmt: str) -> None:
    """The composition roots' own setup, in a process of its own (it sets the root logger)."""
    script = (
        "import logging\n"
        "from services.runtime.lifecycle import setup_logging\n"
        "setup_logging('INFO')\n"
        "logging.getLogger('dtmf.check').warning('hello %s', 'there')\n"
    )
    env = {**os.environ, "DTMF_LOG_FORMAT": fmt}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    if fmt == "json":
        parsed = json.loads(line)
        assert (parsed["level"], parsed["logger"], parsed["message"]) == (
            "WARNING",
            "dtmf.check",
            "hello there",
        )
    else:
        assert line.endswith("WARNING dtmf.check: hello there")
