"""A call's presses are acted on in the order they were pressed, with replicas and bursts."""

from __future__ import annotations

import asyncio
import random
from contextlib import AsyncExitStack

from contracts import Action, KeyPress, Say
from services.edge.calls import Call
from services.edge.edge import Edge
from services.runtime.app import running_service
from services.runtime.service import ConsumerService, keys
from tests.integration.conftest import System
from tests.support import RecordingSession

BURST = "4444444444"


def replica() -> ConsumerService:
    rng = random.Random()

    async def handle(press: KeyPress) -> list[Action]:
        # Uneven handling times: without ordering, later presses would overtake.
        await asyncio.sleep(rng.uniform(0, 0.02))
        return [Say(text=f"#{press.sequence}")]

    return ConsumerService(name="ordered", bindings=keys("4"), handler=handle)


async def burst(edge: Edge, calls: int) -> list[tuple[Call, RecordingSession]]:
    sessions = [RecordingSession() for _ in range(calls)]
    started = [await edge.start_call(s, source="simulator") for s in sessions]
    for key in BURST:  # every call presses as fast as it can, interleaved
        for call in started:
            await edge.press(call, key)
    return list(zip(started, sessions, strict=True))


def numbers(said: list[str]) -> list[int]:
    return [int(text[1:]) for text in said]


async def test_bursts_are_answered_in_press_order_with_two_replicas(system: System) -> None:
    edge = await system.start_edge("edge-order")
    async with AsyncExitStack() as stack:
        for _ in range(2):
            await stack.enter_async_context(running_service(replica(), system.settings))
        calls = await burst(edge, calls=4)
        for _, session in calls:
            said = await session.said_count(len(BURST), timeout=30)
            assert numbers(said) == list(range(1, len(BURST) + 1))


async def test_order_holds_when_the_active_replica_dies_mid_burst(system: System) -> None:
    edge = await system.start_edge("edge-failover")
    async with AsyncExitStack() as standby:
        await standby.enter_async_context(running_service(replica(), system.settings))
        active = await system.stack.enter_async_context(running_service(replica(), system.settings))
        # The first replica to subscribe is the single active consumer; kill it mid-burst.
        calls = await burst(edge, calls=3)
        await active.connection.close()
        last = str(len(BURST))
        for call, session in calls:
            said = await session.said_count(1, timeout=30)
            while f"#{last}" not in said:
                said = await session.said_count(len(said) + 1, timeout=30)
            got = numbers(said)
            assert got == sorted(set(got)), f"answers out of order on {call.call_id}: {got}"
