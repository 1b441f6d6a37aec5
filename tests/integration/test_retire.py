"""`dtmf-bus retire`: a stopped service's keys go to the menu at once, nothing waiting in its
queue is lost, and a running service is never retired under its feet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from aio_pika.exceptions import ChannelNotFoundEntity

from contracts import Action, KeyPress, Say
from contracts import topology as t
from services.edge.bus import running_edge
from services.edge.edge import Edge
from services.edge.simulator import SimulatedSession
from services.runtime.app import running_service
from services.runtime.service import ConsumerService, keys
from services.runtime.settings import Settings
from tests.integration.conftest import System, publish_raw, until_queue_holds
from tests.integration.test_deadletters_cli import drain_dead_queue, until_dead_queue_holds
from tools import retire
from tools.cli import build_parser
from tools.retire import RETIRED_REASON, RetireError, retire_service

WAIT_S = 10
PARKING = "Parking: your ticket is validated."
# Long enough that nothing expires in the queue while a busy machine runs the test.
TTL_MS = 60_000


def parking(settings: Settings) -> ConsumerService:
    async def handle(press: KeyPress) -> list[Action]:
        return [Say(text=PARKING)]

    return ConsumerService(name="parking", bindings=keys("4"), handler=handle, label="Parking")


@asynccontextmanager
async def running_parking(settings: Settings) -> AsyncIterator[None]:
    async with running_service(parking(settings), replace(settings, press_ttl_ms=TTL_MS)):
        yield


async def queue_depth(amqp_url: str, name: str) -> int | None:
    """Ready messages in `name`, or None once it no longer exists."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
        except ChannelNotFoundEntity:
            return None
        return queue.declaration_result.message_count or 0


async def said_to(edge: Edge, key: str) -> str | None:
    call = await edge.start_call(SimulatedSession("caller", out=lambda _: None), source="test")
    press = await edge.press(call, key)
    reply = await press.reply(timeout=WAIT_S)
    if reply is None:
        return None
    first = reply.actions[0]
    return first.text if isinstance(first, Say) else None


async def test_a_retired_services_key_goes_to_the_menu_and_its_waiting_press_is_answered(
    system: System,
) -> None:
    url = system.settings.amqp_url
    # Callers wait longer than the test can take, so a reply is the menu's, never a timeout.
    edge = await system.stack.enter_async_context(
        running_edge(replace(system.settings, edge_id="edge-retire", reply_timeout_s=30))
    )
    async with AsyncExitStack() as parking_up:
        await parking_up.enter_async_context(running_parking(system.settings))
        assert await said_to(edge, "4") == PARKING

    # Stopped, not retired: a press of 4 waits in a queue nobody reads.
    call = await edge.start_call(SimulatedSession("caller", out=lambda _: None), source="test")
    waiting = await edge.press(call, "4")
    stale = KeyPress(
        call_id="old-call",
        reply_to="edge-gone",
        source="test",
        key="4",
        sequence=1,
        pressed_at=datetime.now(UTC) - timedelta(hours=1),
    )
    await publish_raw(url, stale.model_dump_json().encode(), routing_key=stale.routing_key)
    await until_queue_holds(url, t.service_queue("parking"), 2)

    result = await retire_service(url, "parking", press_ttl_ms=TTL_MS)

    assert result.existed and result.rerouted == [waiting.event.event_id]
    assert result.dead_lettered == 1
    assert await queue_depth(url, t.service_queue("parking")) is None
    reply = await waiting.reply(timeout=WAIT_S)
    assert reply is not None and reply.service == "menu"
    # The next caller pressing 4 hears the menu at once, which no longer offers parking.
    heard = await said_to(edge, "4")
    assert heard is not None and heard.startswith("Invalid input.")
    assert "Parking" not in heard and "1 for Sales" in heard
    # The stale press is kept where an operator looks for what was not answered.
    await until_dead_queue_holds(url, 1)
    [letter] = [d for d in await drain_dead_queue(url) if d.reason == RETIRED_REASON]
    assert letter.service == "parking" and stale.event_id in letter.body_preview
    # The call log has the press (and absorbs the copy published again by its id).
    await system.calllog.contain({waiting.event.event_id}, timeout=WAIT_S)


async def test_a_running_service_is_not_retired(system: System) -> None:
    url = system.settings.amqp_url
    edge = await system.start_edge("edge-retire")
    async with running_parking(system.settings):
        with pytest.raises(RetireError, match="consumer"):
            await retire_service(url, "parking", press_ttl_ms=TTL_MS)
        assert await said_to(edge, "4") == PARKING


async def test_the_command_says_what_it_did_and_fails_on_a_running_service(
    system: System, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AMQP_URL", system.settings.amqp_url)
    parser = build_parser()
    assert await retire.run(parser.parse_args(["retire", "nosuch"])) == 0
    assert "dtmf.svc.nosuch does not exist" in capsys.readouterr().out
    async with running_parking(system.settings):
        assert await retire.run(parser.parse_args(["retire", "parking"])) == 1
        assert "error: dtmf.svc.parking has 1 consumer(s)" in capsys.readouterr().out
    assert await retire.run(parser.parse_args(["retire", "parking"])) == 0
    assert "retired parking: deleted dtmf.svc.parking" in capsys.readouterr().out
