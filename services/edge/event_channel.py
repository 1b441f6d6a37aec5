"""The edge's events channel on aio-pika: confirmed publishes, and a way to start afresh."""

from __future__ import annotations

import asyncio
import logging

from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from contracts import topology as t
from contracts.events import AnyEvent
from services.runtime.codec import to_message

log = logging.getLogger(__name__)


class AmqpEventChannel:
    """A channel of its own for events, so replacing it touches nothing else the edge
    consumes or declares. Sends wait (see `connected`) until `open()` gave it a connection."""

    def __init__(self, *, exchange: str = t.EVENTS_EXCHANGE) -> None:
        self._exchange_name = exchange
        self._connection: AbstractRobustConnection | None = None
        self._opened = asyncio.Event()  # stands for "connected" until there is a connection
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    @property
    def connected(self) -> asyncio.Event:
        return self._connection.connected if self._connection is not None else self._opened

    async def open(self, connection: AbstractRobustConnection) -> None:
        self._connection = connection
        await self._open_channel()
        self._opened.set()  # wakes whoever waited before there was a connection

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

    async def renew(self) -> None:
        old = self._channel
        await self._open_channel()
        if old is not None:
            try:
                await asyncio.wait_for(old.close(), 2)
            except Exception as error:  # it was bad already: that is why it is replaced
                log.info("closing the replaced events channel: %r", error)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
