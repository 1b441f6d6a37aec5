"""The edge's events link on aio-pika: confirmed publishes, and ways to start afresh."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.exceptions import DeliveryError

from contracts import topology as t
from contracts.events import AnyEvent
from services.runtime.amqp.broker import connection_gone
from services.runtime.amqp.codec import to_message

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[AbstractRobustConnection]]

# Channel renewals in a row without a confirmed publish before the connection is replaced:
# after a node's death, fresh channels on the same connection were seen nacking too.
RENEWALS_BEFORE_RECONNECT = 2
# No confirm (nor nack) for this long while publishes wait for one: the channel is stuck, not
# slow; a loaded broker still answers something every few milliseconds. Seen after a quorum
# loss: a channel opened during the outage never confirmed what it took, even once quorum was
# back, and each such publish waited out its whole confirm timeout (5 s) before its retry
# went out on a fresh channel, with the call's later presses behind it. A stall replaces the
# channel only, never the connection (repeated nacks do that, in `renew`): on a busy machine
# a recovering cluster can be silent for a second, and a new connection costs it more.
STALL_S = 1.0
# A replacement that does not complete within this (a broker that blocks new channels) is
# abandoned; the next check tries again.
REPLACE_TIMEOUT_S = 5.0


class StallWatch:
    """Whether publishes have waited `stall_s` without the broker answering any of them."""

    def __init__(self, *, stall_s: float) -> None:
        self.stall_s = stall_s
        self.pending = 0
        self._since = 0.0  # the last answer, or the first publish after none was pending

    def sent(self, now: float) -> None:
        if self.pending == 0:
            self._since = now
        self.pending += 1

    def answered(self, now: float) -> None:
        """A confirm or a nack came: the broker is working on this channel."""
        self._since = now

    def settled(self) -> None:
        self.pending -= 1

    def restart(self, now: float) -> None:
        """A fresh channel: its publishes get `stall_s` of their own."""
        self._since = now

    def stalled(self, now: float) -> bool:
        return self.pending > 0 and now - self._since > self.stall_s


class AmqpEventChannel:
    """A connection and channel of the events' own, so replacing them touches nothing the
    edge consumes. Sends wait (see `connected`) until `open()` has connected."""

    def __init__(
        self, connect: Connect, *, exchange: str = t.EVENTS_EXCHANGE, stall_s: float = STALL_S
    ) -> None:
        self._connect = connect
        self._exchange_name = exchange
        self._up = asyncio.Event()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._renewals = 0
        self._stall = StallWatch(stall_s=stall_s)
        self._renewed_at = -math.inf
        self._watchdog: asyncio.Task[None] | None = None
        self._replacing = asyncio.Lock()

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
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())

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
        now = asyncio.get_running_loop().time()
        self._renewed_at = now
        self._stall.restart(now)

    async def send(self, event: AnyEvent, *, timeout: float) -> None:
        if self._exchange is None:
            raise RuntimeError("the events channel is not open")
        loop = asyncio.get_running_loop()
        self._stall.sent(loop.time())
        try:
            await self._exchange.publish(
                to_message(event), routing_key=event.routing_key, timeout=timeout
            )
        except DeliveryError:  # a nack: an answer all the same
            self._stall.answered(loop.time())
            raise
        finally:
            self._stall.settled()
        self._stall.answered(loop.time())
        self._renewals = 0

    async def renew(self) -> None:
        """A fresh channel; after repeated renewals that did not help, a fresh connection
        (through a load balancer, likely to another node). Nothing, if the channel is
        younger than the stall bound (its failing publishes were sent before it came), or
        if the connection itself has gone: aio-pika reconnects it at once and restores the
        channel, and a second connection raced against that one only adds a switch-over,
        whose in-flight publishes fail and wait out a retry (seen: callers answered 2.2 s
        after a node's death instead of 1 s)."""
        if asyncio.get_running_loop().time() - self._renewed_at < self._stall.stall_s:
            return
        if self._connection is None or connection_gone(self._connection):
            log.debug("events link: the connection has gone; aio-pika reconnects it")
            return
        async with self._replacing:
            self._renewals += 1
            if self._renewals > RENEWALS_BEFORE_RECONNECT:
                self._renewals = 0
                await self._reconnect()
            else:
                await self._new_channel()

    async def _watch(self) -> None:
        """Replace a stuck channel: closing it fails what it holds at once, and the publisher
        sends that again, in order, on the fresh one (a duplicate, if the stuck channel did
        route it, is absorbed by event id)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._stall.stall_s / 4)  # a check's pace, not a wait
            if not (self._up.is_set() and self._stall.stalled(loop.time())):
                continue
            log.warning(
                "events link: %d publishes unanswered for over %.1fs: replacing the channel",
                self._stall.pending,
                self._stall.stall_s,
            )
            try:
                async with self._replacing:
                    await self._new_channel()  # never a new connection: see STALL_S
            except Exception as error:  # the connection is going: it reconnects by itself
                log.warning("events link: could not replace the channel (%r)", error)

    async def _new_channel(self) -> None:
        old = self._channel
        await asyncio.wait_for(self._open_channel(), REPLACE_TIMEOUT_S)
        await _quietly_close(old, "channel")

    async def _reconnect(self) -> None:
        log.warning("events link: fresh channels failed too; opening a fresh connection")
        old = self._connection
        self._up.clear()
        await self.open()
        await _quietly_close(old, "connection")

    async def close(self) -> None:
        self._up.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
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
