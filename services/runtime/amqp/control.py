"""The control plane adapter: announce this service, and feed a directory if it has one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from pydantic import ValidationError

from contracts.base import Message
from contracts.control import (
    ANNOUNCE_ROUTING_KEY,
    DISCOVER_ROUTING_KEY,
    Discover,
    ServiceAnnouncement,
    parse_announcement,
)
from services.runtime.amqp.codec import to_control
from services.runtime.service import ConsumerService

log = logging.getLogger(__name__)

ANNOUNCE_EVERY_S = 30.0
DISCOVERY_WAIT_S = 1.0


class Control:
    def __init__(
        self, exchange: AbstractExchange, announcement: ServiceAnnouncement | None
    ) -> None:
        self._exchange = exchange
        self._announcement = announcement
        self._ticker: asyncio.Task[None] | None = None

    async def _send(self, message: Message, routing_key: str) -> None:
        await self._exchange.publish(to_control(message), routing_key=routing_key)

    async def discover(self) -> None:
        await self._send(Discover(), DISCOVER_ROUTING_KEY)

    async def announce(self) -> None:
        if self._announcement is not None:
            await self._send(self._announcement, ANNOUNCE_ROUTING_KEY)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(ANNOUNCE_EVERY_S)
            try:
                await self.announce()
            except Exception:
                log.warning("could not announce; will try again", exc_info=True)

    def start_ticking(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        """Say "down" if the broker takes it promptly; expiry covers a lost one."""
        if self._ticker is not None:
            self._ticker.cancel()
        if self._announcement is not None:
            down = self._announcement.model_copy(update={"status": "down"})
            await self._send(down, ANNOUNCE_ROUTING_KEY)


async def start_control(
    channel: AbstractChannel, service: ConsumerService, *, exchange: AbstractExchange
) -> Control:
    """Announce and listen on `exchange` (dtmf.control), which the service declared or
    checked with the rest of the shared topology (broker.declare_topology, control=True)."""
    announcement = None
    if service.served_keys or service.served_inputs:
        announcement = ServiceAnnouncement(
            service=service.name,
            label=service.label,
            keys=service.served_keys,
            inputs=service.served_inputs,
            valid_for_s=3 * ANNOUNCE_EVERY_S,
        )
    control = Control(exchange, announcement)
    if announcement is not None:
        await _subscribe(channel, exchange, DISCOVER_ROUTING_KEY, lambda _: control.announce())
    if service.directory is not None:
        directory = service.directory
        heard = asyncio.Event()

        async def learn(body: bytes) -> None:
            directory.update(parse_announcement(body))
            heard.set()

        await _subscribe(channel, exchange, ANNOUNCE_ROUTING_KEY, learn)
        await control.discover()
        # Running services answer within milliseconds; don't take calls knowing nothing.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(heard.wait(), DISCOVERY_WAIT_S)
    await control.announce()
    control.start_ticking()
    return control


async def _subscribe(
    channel: AbstractChannel,
    exchange: AbstractExchange,
    routing_key: str,
    on_body: Callable[[bytes], Awaitable[None]],
) -> None:
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key=routing_key)

    async def receive(message: AbstractIncomingMessage) -> None:
        try:
            await on_body(message.body)
        except ValidationError as error:
            log.warning("ignoring a malformed control message: %s", error)

    await queue.consume(receive, no_ack=True)
