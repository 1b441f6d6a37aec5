"""Broker connection and the topology every service declares (idempotently) on start."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
)

from contracts import topology as t

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topology:
    events: AbstractExchange
    routes: AbstractExchange
    unrouted: AbstractExchange
    replies: AbstractExchange
    dead: AbstractExchange


async def connect(url: str, *, name: str) -> AbstractRobustConnection:
    """A robust connection: aio-pika reconnects and restores channels, queues and consumers."""
    connection = await aio_pika.connect_robust(url, client_properties={"connection_name": name})
    log.info("connected to broker as %s", name)
    return connection


async def declare_topology(channel: AbstractChannel, *, prefix: str = "") -> Topology:
    """Declare the design brief's exchanges; safe to run from every service at once.

    Services use the names as they are. A prefix gives a copy of the topology under names of
    its own (the benchmark's floor, bench.matched), which the services never see.
    """
    kind = aio_pika.ExchangeType
    events = await channel.declare_exchange(prefix + t.EVENTS_EXCHANGE, kind.TOPIC, durable=True)
    unrouted = await channel.declare_exchange(
        prefix + t.UNROUTED_EXCHANGE, kind.FANOUT, durable=True
    )
    routes = await channel.declare_exchange(
        prefix + t.ROUTES_EXCHANGE,
        kind.TOPIC,
        durable=True,
        arguments={"alternate-exchange": unrouted.name},
    )
    await routes.bind(events, routing_key=t.ROUTES_BINDING)
    replies = await channel.declare_exchange(prefix + t.REPLIES_EXCHANGE, kind.DIRECT, durable=True)
    dead = await channel.declare_exchange(prefix + t.DEAD_EXCHANGE, kind.FANOUT, durable=True)
    dead_queue = await channel.declare_queue(
        prefix + t.DEAD_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead)
    return Topology(events=events, routes=routes, unrouted=unrouted, replies=replies, dead=dead)


async def declare_service_queue(
    channel: AbstractChannel,
    *,
    service: str,
    interactive: bool,
    delivery_limit: int,
    ttl_ms: int,
) -> AbstractQueue:
    return await channel.declare_queue(
        t.service_queue(service),
        durable=True,
        arguments=t.service_queue_arguments(
            interactive=interactive, delivery_limit=delivery_limit, ttl_ms=ttl_ms
        ),
    )


class LinkState:
    """Whether the connection is up *and* restored (channels, queues, consumers).

    `connection.connected` is set before aio-pika restores channels on a reconnect, so
    readiness follows the close and reconnect callbacks instead.
    """

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self.up = connection.connected.is_set()
        self._changed = asyncio.Condition()
        connection.close_callbacks.add(self._on_close)
        connection.reconnect_callbacks.add(self._on_reconnect)

    def _on_close(self, *_: object) -> None:
        self._set(False)

    def _on_reconnect(self, *_: object) -> None:
        log.info("broker connection restored")
        self._set(True)

    def _set(self, up: bool) -> None:
        self.up = up
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, up: bool, *, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.up is up)
