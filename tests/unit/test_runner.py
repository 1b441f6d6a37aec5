"""The runner's memory of handled ids across a channel that closes mid-handler."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from services.runtime.amqp.runner import Runner
from services.runtime.outcomes import Outcome
from tests.unit.deliveries import Delivery, Wire


class Redeliverable(Delivery):
    content_type = "application/json"
    message_id = "m"
    exchange = "dtmf.events"
    routing_key = "dtmf.1"
    headers: dict[str, Any] = {}

    def __init__(self, wire: Wire, channel: object, tag: int, body: bytes) -> None:
        super().__init__(wire, channel, tag)
        self.body = body


async def test_a_handler_cut_off_by_a_closing_channel_finishes_and_is_not_run_twice() -> None:
    gate = asyncio.Event()
    handled: list[str] = []
    outcomes: list[Outcome] = []

    async def handle(text: str) -> Outcome:
        await gate.wait()  # e.g. a call log line waiting for its group commit
        handled.append(text)
        return Outcome.NO_REPLY

    runner: Runner[str] = Runner(
        name="t",
        decode=bytes.decode,
        handle=handle,
        dead=None,  # type: ignore[arg-type]  # nothing here is dead-lettered
        identify=lambda text: text,
        on_outcome=outcomes.append,
    )
    wire = Wire()
    first = asyncio.create_task(runner(Redeliverable(wire, "old", 1, b"event-1")))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the handler starts and waits
    first.cancel()  # the channel closes: aiormq cancels its consumer tasks
    with contextlib.suppress(asyncio.CancelledError):
        await first
    # The broker redelivers on the new channel while the first handling is still running.
    again = asyncio.create_task(runner(Redeliverable(wire, "new", 1, b"event-1")))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.wait_for(again, timeout=5)
    await runner.drained(timeout=5)
    assert handled == ["event-1"]
    assert outcomes == [Outcome.DUPLICATE]
    assert wire.frames == [("ack", 1, False)]
    assert wire.channels == ["new"]
