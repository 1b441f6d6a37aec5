"""The queue expiry policy on the real broker: an interactive service gone without a word
loses its queue, so its key falls back to the menu, whose prompt stops offering it; started
again, it takes its key back. The call log's queue never expires. And what an outage costs
the callers who press the key meanwhile, shorter and longer than the expiry."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from contracts import topology as t
from services.edge.edge import TIMEOUT_PROMPT, Edge
from services.menu import service as menu
from services.sales import service as sales
from services.support import service as support
from tests.integration import held_service
from tests.integration.conftest import System, SystemSettings, WatchedCallLog, tap
from tests.integration.expiry_support import (
    QUORUM_TICK_S,
    Heard,
    Replicas,
    Watched,
    press_once,
    queue_expiry,
    replicas,
    wait_until_gone,
)
from tests.support import INVALID_INPUT

# Longer than a press may wait (DTMF_PRESS_TTL_MS, 5 s), as in production (60 s).
EXPIRES_MS = 6000
GONE_WITHIN_S = EXPIRES_MS / 1000 + 2 * QUORUM_TICK_S
KEY = held_service.KEY
QUEUE = t.service_queue(held_service.NAME)
WITH_ORDERS = "Invalid input. Press 1 for Sales, 2 for Support or 4 for Orders."
PRESS_EVERY_S = 0.5


async def start_system(settings: SystemSettings, stack: AsyncExitStack) -> tuple[System, Watched]:
    """Sales, support, a menu whose directory the test can watch, and the call log."""
    system = System(settings=settings, stack=stack, calllog=WatchedCallLog(settings.calllog_path))
    the_menu = menu.build(settings)
    assert the_menu.directory is not None
    for service in (sales.build(settings), support.build(settings), the_menu):
        await system.start_service(service)
    await system.start_service(system.calllog.service())
    return system, Watched(the_menu.directory)


async def test_the_policy_expires_interactive_queues_and_never_the_call_logs(
    amqp_url: str,
) -> None:
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        arguments = {
            name: t.service_queue_arguments(interactive=name not in t.NON_INTERACTIVE_SERVICES)
            for name in ("orders", "calllog")
        }
        for name, args in arguments.items():  # a deployment from before the policy
            await channel.declare_queue(t.service_queue(name), durable=True, arguments=args)
        gone_by = time.monotonic() + 2 + 2 * QUORUM_TICK_S  # an unused queue matched is gone
        with queue_expiry(amqp_url, expires_ms=2000):
            # The policy changes no argument: a service declares its queue as before.
            await channel.declare_queue(QUEUE, durable=True, arguments=arguments["orders"])
            await wait_until_gone(amqp_url, QUEUE, timeout=gone_by - time.monotonic())
            # Unused for as long, the call log's queue outlives that bound.
            calllog = t.service_queue("calllog")
            with pytest.raises(TimeoutError):
                await wait_until_gone(amqp_url, calllog, timeout=gone_by - time.monotonic())


@pytest.mark.timeout(120)  # two service starts and an expiry (up to GONE_WITHIN_S)
async def test_a_crashed_service_loses_its_queue_and_the_menu_its_key(
    amqp_url: str, settings: SystemSettings
) -> None:
    async with AsyncExitStack() as stack:
        stack.enter_context(queue_expiry(amqp_url, expires_ms=EXPIRES_MS))
        system, directory = await start_system(settings, stack)
        edge = await system.start_edge("edge-expiry")
        orders = await stack.enter_async_context(replicas(settings))
        await orders.start()
        await directory.offering(KEY, timeout=10)
        assert (await press_once(edge, KEY, listen_s=10)).said == held_service.answer(KEY)
        assert (await press_once(edge, "9", listen_s=10)).said == WITH_ORDERS

        await orders.crash()
        await wait_until_gone(amqp_url, QUEUE, timeout=GONE_WITHIN_S)
        assert KEY in directory.offered(), "the menu has not heard: its directory is stale"
        # The press reached the menu, which proves 4 unbound: the prompt leaves 4 out.
        assert (await press_once(edge, KEY, listen_s=10)).said == INVALID_INPUT
        assert KEY not in directory.offered()
        assert (await press_once(edge, "9", listen_s=10)).said == INVALID_INPUT

        await orders.start()  # declares its queue, binds 4 and announces it again
        await directory.offering(KEY, timeout=10)
        assert (await press_once(edge, KEY, listen_s=10)).said == held_service.answer(KEY)
        assert (await press_once(edge, "9", listen_s=10)).said == WITH_ORDERS


@dataclass
class Outage:
    """The callers who pressed 4 while the service was away: what each heard, and what
    became of each press."""

    name: str
    crashed_at: float = 0.0
    back_at: float = 0.0
    gone_at: float | None = None  # when the queue was seen gone
    callers: list[asyncio.Task[Heard]] = field(default_factory=list)
    pressed: asyncio.Event = field(default_factory=asyncio.Event)  # set at each new caller
    heard: list[Heard] = field(default_factory=list)
    dead: dict[str, str] = field(default_factory=dict)  # event id -> reason

    def said(self, text: str) -> list[Heard]:
        return [h for h in self.heard if h.said == text]

    async def until_pressed(self, count: int, *, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while True:
                self.pressed.clear()
                if len(self.callers) >= count:
                    return
                await self.pressed.wait()

    def lost(self) -> list[Heard]:
        """Timed out and not dead-lettered either: gone with the queue."""
        return [h for h in self.said(TIMEOUT_PROMPT) if h.event_id not in self.dead]

    def report(self) -> str:
        answered = self.said(held_service.answer(KEY))
        slowest = max((h.after_s for h in answered), default=0.0)
        timed_out = self.said(TIMEOUT_PROMPT)
        gone = "kept" if self.gone_at is None else f"gone at {self.gone_at - self.crashed_at:.1f}s"
        return (
            f"{self.name}: back at {self.back_at - self.crashed_at:.1f}s, queue {gone} "
            f"(expiry {EXPIRES_MS / 1000:.0f}s); {len(self.heard)} presses of {KEY}: "
            f"{len(answered)} answered by the service (slowest {slowest:.1f}s), "
            f"{len(self.said(INVALID_INPUT))} by the menu without {KEY}, "
            f"{len(timed_out)} heard the timeout prompt ({len(timed_out) - len(self.lost())} "
            f"dead-lettered {sorted(set(self.dead.values()))}, {len(self.lost())} lost)"
        )


async def through_outage(
    edge: Edge, orders: Replicas, outage: Outage, *, back_when: Callable[[], Awaitable[None]]
) -> None:
    """Crash the service; a new caller presses 4 every PRESS_EVERY_S until it is back, which
    it is as soon as `back_when` returns."""
    back = asyncio.Event()

    async def keep_pressing() -> None:
        while not back.is_set():
            outage.callers.append(asyncio.create_task(press_once(edge, KEY, listen_s=15)))
            outage.pressed.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(back.wait(), PRESS_EVERY_S)  # the pace of the callers

    await orders.crash()
    outage.crashed_at = time.monotonic()
    presser = asyncio.create_task(keep_pressing())
    await back_when()
    await orders.start()
    outage.back_at = time.monotonic()
    back.set()
    await presser
    outage.heard = list(await asyncio.gather(*outage.callers))


async def read_dead_letters(
    letters: asyncio.Queue[AbstractIncomingMessage], outages: list[Outage], *, timeout: float
) -> None:
    """File every dead letter under its press; wait (bounded) for those of timed-out presses."""
    owner = {h.event_id: o for o in outages for h in o.heard}
    waiting = {h.event_id for o in outages for h in o.said(TIMEOUT_PROMPT)}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while waiting:
                letter = await letters.get()
                event_id = json.loads(letter.body).get("event_id")
                if event_id in owner:
                    headers = letter.headers
                    reason = headers.get("x-first-death-reason") or headers.get(
                        t.DEAD_REASON_HEADER
                    )
                    owner[event_id].dead[event_id] = str(reason)
                    waiting.discard(event_id)


@pytest.mark.timeout(180)  # two outages, one past an expiry, and callers up to 15 s each
async def test_what_an_outage_costs_the_callers(amqp_url: str, settings: SystemSettings) -> None:
    async with AsyncExitStack() as stack:
        stack.enter_context(queue_expiry(amqp_url, expires_ms=EXPIRES_MS))
        system, directory = await start_system(settings, stack)
        edge = await system.start_edge("edge-outage")
        orders = await stack.enter_async_context(replicas(settings))
        dead_letters = await stack.enter_async_context(tap(amqp_url, t.DEAD_QUEUE))
        await orders.start()
        await directory.offering(KEY, timeout=10)

        short = Outage("short outage")

        async def after_a_few_presses() -> None:
            await short.until_pressed(4, timeout=10)

        await through_outage(edge, orders, short, back_when=after_a_few_presses)
        await directory.offering(KEY, timeout=10)

        long = Outage("long outage")

        async def after_expiry_and_a_few_presses() -> None:
            await wait_until_gone(amqp_url, QUEUE, timeout=GONE_WITHIN_S)
            long.gone_at = time.monotonic()
            pressed = len(long.callers)
            await long.until_pressed(pressed + 4, timeout=10)

        await through_outage(edge, orders, long, back_when=after_expiry_and_a_few_presses)
        await read_dead_letters(dead_letters, [short, long], timeout=10)

    print(f"\n{short.report()}\n{long.report()}")
    for outage in (short, long):
        # A press of 4 is never answered with a prompt that offers 4.
        assert not outage.said(WITH_ORDERS), outage.report()
        assert {h.said for h in outage.heard} <= {
            held_service.answer(KEY),
            INVALID_INPUT,
            TIMEOUT_PROMPT,
        }, outage.report()
    # Shorter than the expiry: the queue kept every press; none went to the menu, none lost.
    assert short.gone_at is None and not short.said(INVALID_INPUT) and not short.lost()
    # Longer: presses made before the expiry were not answered (the service was away);
    # every press made once the queue was gone was answered by the menu, without 4.
    assert long.gone_at is not None
    before = [h for h in long.heard if h.sent_at < long.crashed_at + EXPIRES_MS / 1000]
    after = [h for h in long.heard if long.gone_at < h.sent_at < long.back_at]
    assert before and all(h.said == TIMEOUT_PROMPT for h in before), long.report()
    assert len(after) >= 3 and all(h.said == INVALID_INPUT for h in after), long.report()
