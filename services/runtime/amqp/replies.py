"""Sending a service's replies to the edge that holds the call.

A reply is sent or retried in the background, never raised into the handler: a reply that
cannot go out now (returned, or this service's link is down) would otherwise fail a handler
whose work is done, and have it logged as an error, requeued and run again.

An edge's reply queue is exclusive to its connection: when the edge reconnects (its
broker node died, the broker restarted) the queue is declared again, and for that moment a
reply has nowhere to go. Replies are therefore published mandatory: one the broker
returns is retried in the background, so the delivery it answers is settled at once and
other calls go on, until the edge would have told its caller "sorry" anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractExchange
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, PublishError

from contracts import topology as t
from contracts.replies import Reply
from services.runtime import tracing
from services.runtime.amqp.codec import to_message
from services.runtime.lifecycle import being_cancelled

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.05, 0.1, 0.25, 0.5)


class ReplySender:
    """`await sender(reply, edge_id)`: published, or being retried in the background.
    The exchange's channel must have been opened with ``on_return_raises=True``."""

    def __init__(
        self,
        exchange: AbstractExchange,
        *,
        retry_for_s: float,
        on_undeliverable: Callable[[], None] = lambda: None,
    ) -> None:
        self._exchange = exchange
        self._retry_for = retry_for_s
        self._on_undeliverable = on_undeliverable
        self._retrying: set[asyncio.Task[None]] = set()

    async def __call__(self, reply: Reply, edge_id: str) -> None:
        if tracing.tracer is None:
            return await self._send(reply, edge_id)
        with tracing.sending(t.REPLIES_EXCHANGE, routing_key=edge_id, message_id=reply.reply_id):
            return await self._send(reply, edge_id)

    async def _send(self, reply: Reply, edge_id: str) -> None:
        message = to_message(reply)  # in the span above: the reply carries it to the edge
        try:
            try:
                await self._exchange.publish(message, routing_key=edge_id, mandatory=True)
            except asyncio.CancelledError as cancelled:
                if being_cancelled():
                    raise
                # aiormq cancels the confirms a closing channel still owes: the link is going.
                raise ConnectionError("the channel closed before the confirm") from cancelled
        except CONNECTION_EXCEPTIONS as error:
            # Returned (no queue), or this service's own link is going (its node died): the
            # handler's work is done either way, and the reply goes out once it can.
            if not isinstance(error, PublishError):
                log.info(
                    "reply %s to edge %s waits for the broker (%r)", reply.reply_id, edge_id, error
                )
            task = asyncio.get_running_loop().create_task(self._retry(message, edge_id))
            self._retrying.add(task)
            task.add_done_callback(self._retrying.discard)

    async def _retry(self, message: aio_pika.Message, edge_id: str) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._retry_for
        attempt = 0
        while loop.time() < give_up:
            await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
            attempt += 1
            try:
                await self._exchange.publish(message, routing_key=edge_id, mandatory=True)
            except PublishError:
                continue
            except Exception as error:  # the connection is going; it comes back by itself
                log.info(
                    "reply %s to edge %s not sent yet (%r)", message.message_id, edge_id, error
                )
                continue
            log.info(
                "reply %s reached edge %s after %d retries", message.message_id, edge_id, attempt
            )
            return
        self._on_undeliverable()
        log.warning(
            "reply %s dropped: edge %s has had no reply queue for %.1fs (gone, or its call ended)",
            message.message_id,
            edge_id,
            self._retry_for,
        )

    @property
    def retrying(self) -> int:
        return len(self._retrying)

    async def close(self) -> None:
        for task in list(self._retrying):
            task.cancel()
        await asyncio.gather(*self._retrying, return_exceptions=True)
