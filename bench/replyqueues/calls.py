"""A call start, as an edge (job) process does it, and its end; calls started in waves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.abc import AbstractRobustConnection as RobustConnection

from bench.replyqueues.designs import Design
from contracts import topology as t

T = TypeVar("T")
R = TypeVar("R")

CALL_TIMEOUT_S = 30.0


@dataclass
class LiveCall:
    call_id: str
    connection: RobustConnection
    queue: AbstractQueue | None
    steps_us: dict[str, int]


class _Laps:
    def __init__(self) -> None:
        self.start = self._last = time.perf_counter_ns()
        self.steps: dict[str, int] = {}

    def lap(self, step: str) -> None:
        now = time.perf_counter_ns()
        self.steps[step] = (now - self._last) // 1000
        self._last = now

    def total(self) -> None:
        self.steps["total"] = (self._last - self.start) // 1000


async def _ack(message: AbstractIncomingMessage) -> None:
    await message.ack()


async def declare_reply_queue(
    channel: AbstractChannel, design: Design, call_id: str, pod_queue: str | None
) -> AbstractQueue:
    if design.shared:
        assert pod_queue is not None
        # The pod declared it once; a call only binds (no round trip here).
        return await channel.get_queue(pod_queue, ensure=False)
    return await channel.declare_queue(
        t.reply_queue(call_id),
        durable=design.durable,
        exclusive=design.exclusive,
        arguments=dict(design.arguments),
    )


async def start_call(url: str, design: Design, call_id: str, pod_queue: str | None) -> LiveCall:
    """What an edge process does to take replies for a call, each step timed."""
    laps = _Laps()
    connection = await aio_pika.connect_robust(
        url, client_properties={"connection_name": f"dtmf-bench-rq-{call_id}"}
    )
    laps.lap("connect")
    try:
        channel = await connection.channel()
        laps.lap("channel")
        queue = None
        if design.queue:
            queue = await declare_reply_queue(channel, design, call_id, pod_queue)
            laps.lap("declare")
            await queue.bind(t.REPLIES_EXCHANGE, routing_key=call_id)
            laps.lap("bind")
            if not design.shared:  # the pod's relay would consume, once per pod
                await queue.consume(_ack)
                laps.lap("consume")
    except BaseException:
        await connection.close()
        raise
    laps.total()
    return LiveCall(call_id, connection, queue, laps.steps)


async def end_call(call: LiveCall, design: Design) -> int:
    """A hang-up: the call's process lets go (its queue, if any, is the broker's to drop)."""
    began = time.perf_counter_ns()
    if design.shared and call.queue is not None:
        await call.queue.unbind(t.REPLIES_EXCHANGE, routing_key=call.call_id)
    await call.connection.close()
    return (time.perf_counter_ns() - began) // 1000


async def _bounded(work: Awaitable[R]) -> R:
    async with asyncio.timeout(CALL_TIMEOUT_S):
        return await work


async def in_waves(
    items: Sequence[T], wave: int, run: Callable[[T], Awaitable[R]]
) -> list[R | BaseException]:
    """`run` on every item, `wave` at a time, each wave all at once (as calls arrive at a pod)."""
    results: list[R | BaseException] = []
    for i in range(0, len(items), wave):
        batch = items[i : i + wave]
        results += await asyncio.gather(
            *(_bounded(run(item)) for item in batch), return_exceptions=True
        )
    return results
