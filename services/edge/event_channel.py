"""The edge's events link on aio-pika: confirmed publishes, and ways to start afresh."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from contracts import topology as t
from contracts.events import AnyEvent
from services.runtime.codec import to_message

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[AbstractRobustConnection]]

# Channel renewals in a row without a confirmed publish before the connection is replaced:
# after a node's death, fresh channels on the same connection were seen nacking too.
RENEWALS_BEFORE_RECONNECT = 2


class AmqpEventChannel:
    """A connection and channel of the events' own, so replacing them touches nothing the
    edge consumes. Sends wait (see `connected`) until `open()` has connected."""

    def __init__(self, connect: Connect, *, exchange: str = t.EVENTS_EXCHANGE) -> None:
        self._connect = connect
        self._exchange_name = exchange
        self._up = asyncio.Event()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._renewals = 0

    @property
    def connected(self) -> asyncio.Event:
        return self._up

    async def open(self) -> None:
        connection = await self._connect()
        connection.close_callbacks.add(lambda *_: self._follow(connection, up=False))
        connection.reconnect_callbacks.add(lambda *_: self._follow(connection, up=True))
        self._connection = connection
        await self._open_channel()
        self._up.set()

    def _follow(self, connection: AbstractRobustConnection, *, up: bool) -> None:
        if connection is self._connection:  # not one being replaced
            if up:
                self._up.set()
            else:
                self._up.clear()

    async def _open_channel(self) -> None:
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=True)
        # Declared by the topology already: no round trip to check it again.
        self._exchange = await channel.get_exchange(self._exchange_name, ensure=False)
        self._channel = channel

    async def send(self, event: AnyEvent, *, timeout: float) -> None:
        if self._exchange is None:
            raise RuntimeError("the events channel is not open")
        await self._exchange.publish(
            to_message(event), routing_key=event.routing_key, timeout=timeout
        )
        self._renewals = 0

    async def renew(self) -> None:
        """A fresh channel; after repeated renewals that did not help, a fresh connection
        (through a load balancer, likely to another node)."""
        self._renewals += 1
        if self._renewals > RENEWALS_BEFORE_RECONNECT:
            self._renewals = 0
            await self._reconnect()
            return
        old = self._channel
        await self._open_channel()
        await _quietly_close(old, "channel")

    async def _reconnect(self) -> None:
        log.warning("events link: fresh channels failed too; opening a fresh connection")
        old = self._connection
        self._up.clear()
        await self.open()
        await _quietly_close(old, "connection")

    async def close(self) -> None:
        self._up.clear()
        await _quietly_close(self._connection, "connection")


async def _quietly_close(
    link: AbstractChannel | AbstractRobustConnection | None, what: str
) -> None:
    if link is None:
        return
    try:
        await asyncio.wait_for(link.close(), 2)
    except Exception as error:  # it was bad already: that is why it is replaced
        log.info("closing the replaced events %s: %r", what, error)
