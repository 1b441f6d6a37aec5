"""Consumer processes that crash or are stopped, stale presses, and floods of bad input."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace

import aio_pika
import pytest

from contracts import topology as t
from services.edge.edge import TIMEOUT_PROMPT
from services.runtime.app import running_service
from services.runtime.settings import Settings
from services.sales import service as sales
from tests.integration import scripted_service
from tests.integration.conftest import (
    System,
    SystemSettings,
    WatchedCallLog,
    publish_raw,
    tap,
)
from tests.support import INVALID_INPUT, RecordingSession
from tools.demo import wait_for_consumers

SERVICE = f"{scripted_service.__name__}:build"


@asynccontextmanager
async def service_process(
    settings: Settings, mode: str, **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The scripted service as its own OS process, consuming once this is entered."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.cli",
        "run",
        SERVICE,
        stdout=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "AMQP_URL": settings.amqp_url,
            "DTMF_HTTP_PORT": "-1",
            "FAULT_MODE": mode,
            **env,
        },
    )
    try:
        await wait_for_consumers(settings.amqp_url, [t.service_queue("faulty")], timeout=30)
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def next_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()


async def queue_depth(url: str, queue: str) -> tuple[int, int]:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        result = declared.declaration_result
        return result.message_count, result.consumer_count


async def test_consumer_killed_mid_handler_redelivers_and_answers_once(system: System) -> None:
    edge = await system.start_edge("edge-kill")
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    async with service_process(system.settings, "hang") as doomed:
        press = await edge.press(call, scripted_service.KEY)
        assert await next_line(doomed) == f"handling {press.event.event_id}"
        doomed.kill()  # SIGKILL: no chance to ack or clean up
        await doomed.wait()

    async with service_process(system.settings, "ok") as replica:
        assert await next_line(replica) == f"handling {press.event.event_id}"
        reply = await press.reply(timeout=20)
        assert reply is not None
        # A second press goes through the same queue after the first: when it is
        # answered, nothing of the first is left to be answered again.
        second = await edge.press(call, scripted_service.KEY)
        assert await second.reply(timeout=20) is not None
        assert await queue_depth(system.settings.amqp_url, t.service_queue("faulty")) == (0, 1)
    assert session.said == ["faulty answered 7", "faulty answered 7"]


async def test_sigterm_drains_the_press_in_flight(system: System) -> None:
    edge = await system.start_edge("edge-term")
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    async with service_process(system.settings, "slow", FAULT_DELAY_S="1") as proc:
        press = await edge.press(call, scripted_service.KEY)
        assert await next_line(proc) == f"handling {press.event.event_id}"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), system.settings.shutdown_timeout_s + 10)
        stopped_in = time.monotonic() - started
    assert code == 0
    assert stopped_in < system.settings.shutdown_timeout_s
    assert await press.reply(timeout=10) is not None
    assert session.said == ["faulty answered 7"]
    assert await queue_depth(system.settings.amqp_url, t.service_queue("faulty")) == (0, 0)


@pytest.fixture
def impatient(settings: SystemSettings) -> SystemSettings:
    return replace(settings, press_ttl_ms=1500, reply_timeout_s=3)


async def test_presses_older_than_the_bound_expire_instead_of_being_answered_late(
    impatient: SystemSettings,
) -> None:
    async with AsyncExitStack() as stack:
        system = System(
            settings=impatient, stack=stack, calllog=WatchedCallLog(impatient.calllog_path)
        )
        edge = await system.start_edge("edge-stale")
        async with running_service(sales.build(impatient), impatient):
            pass  # sales declared its queue and bindings, then stopped: no consumer now
        session = RecordingSession()
        call = await edge.start_call(session, source="simulator")
        async with tap(impatient.amqp_url, t.DEAD_QUEUE) as dead:
            old = (await edge.press(call, "1")).event
            letter = await asyncio.wait_for(dead.get(), 20)
        assert letter.headers["x-first-death-reason"] == "expired"
        assert letter.headers["x-first-death-queue"] == t.service_queue("sales")
        assert json.loads(letter.body)["event_id"] == old.event_id
        # The caller was not left in silence.
        assert await session.said_count(1, timeout=10) == [TIMEOUT_PROMPT]

        await system.start_service(sales.build(impatient))
        fresh = await edge.press(call, "1")
        assert await fresh.reply(timeout=10) is not None
        assert session.said == [TIMEOUT_PROMPT, "Routing you to Sales..."]


async def test_flood_of_malformed_messages_does_not_stop_valid_presses(system: System) -> None:
    edge = await system.start_edge("edge-flood")
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    rounds = 100
    garbage = [b"{not json", b'{"type": "key_press"}', json.dumps({"key": "Z"}).encode()]
    async with tap(system.settings.amqp_url, t.DEAD_QUEUE) as dead:
        presses = []
        for n in range(rounds):
            await publish_raw(
                system.settings.amqp_url, garbage[n % len(garbage)], routing_key="dtmf.9"
            )
            presses.append(await edge.press(call, "9"))
        said = await session.said_count(rounds, timeout=60)
        # menu and the call log each dead-letter every malformed message they receive
        letters = [await asyncio.wait_for(dead.get(), 20) for _ in range(2 * rounds)]
    assert said == [INVALID_INPUT] * rounds
    by_service = {"menu": 0, "calllog": 0}
    for letter in letters:
        by_service[str(letter.headers[t.DEAD_SERVICE_HEADER])] += 1
    assert by_service == {"menu": rounds, "calllog": rounds}
    assert dead.empty()
