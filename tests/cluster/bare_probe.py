"""Bare aio-pika clients, with no dtmf-bus code, that tell when the broker serves quorum
queues again after a fault: the floor the project's own clients are measured against."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

PROBE_QUEUE = "probe.quorum"
QUORUM = {"x-queue-type": "quorum"}


async def declare_probe(url: str) -> None:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        await channel.declare_queue(PROBE_QUEUE, durable=True, arguments=QUORUM)


async def broker_serves_again(url: str) -> float:
    """When a bare client, trying every 0.1 s, next gets a publish into a quorum queue
    confirmed: the moment the broker itself serves quorum queues again."""
    while True:
        try:
            async with await aio_pika.connect(url, timeout=1) as connection:
                channel = await connection.channel(publisher_confirms=True)
                await channel.default_exchange.publish(
                    aio_pika.Message(b"probe"), routing_key=PROBE_QUEUE, timeout=1
                )
                return time.monotonic()
        except Exception:  # refused, closed, nacked or not confirmed yet: the broker is away
            await asyncio.sleep(0.1)  # the probe's pace


class BareConsumer:
    """aio-pika's own robust connection consuming the probe queue, as a service consumes its
    queue: when it receives again after a fault is the floor for "consuming again"."""

    def __init__(self) -> None:
        self.received: list[float] = []
        self._changed = asyncio.Condition()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        async with self._changed:
            self.received.append(time.monotonic())
            self._changed.notify_all()

    async def first_after(self, t0: float, *, timeout: float) -> float:
        def first() -> float | None:
            return next((t for t in self.received if t >= t0), None)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: first() is not None)
        found = first()
        assert found is not None
        return found


@asynccontextmanager
async def bare_consumer(url: str) -> AsyncIterator[BareConsumer]:
    consumer = BareConsumer()
    # The runtime's reconnect pace (services/runtime/amqp/broker.py), so only the code differs.
    connection = await aio_pika.connect_robust(url, reconnect_interval=0.5)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(PROBE_QUEUE, durable=True, arguments=QUORUM)
        await queue.consume(consumer.on_message)
        yield consumer
    finally:
        await connection.close()


class BarePublisher:
    """aio-pika's own robust connection publishing with confirms into the probe queue,
    every 0.1 s through the fault, each publish bounded by the edge's confirm timeout and
    retried on failure: when it gets a confirm again after a fault is the floor for an
    edge's "publishing again"."""

    def __init__(self, *, confirm_timeout_s: float) -> None:
        self.confirmed: list[float] = []
        self._timeout = confirm_timeout_s

    async def run(self, url: str) -> None:
        connection = await aio_pika.connect_robust(url, reconnect_interval=0.5)
        try:
            channel = await connection.channel(publisher_confirms=True)
            while True:
                try:
                    await channel.default_exchange.publish(
                        aio_pika.Message(b"bare"), routing_key=PROBE_QUEUE, timeout=self._timeout
                    )
                    self.confirmed.append(time.monotonic())
                except Exception:  # nacked, timed out, channel or connection away: again
                    pass
                await asyncio.sleep(0.1)
        finally:
            await connection.close()

    def first_after(self, t0: float) -> float | None:
        return next((t for t in self.confirmed if t >= t0), None)
