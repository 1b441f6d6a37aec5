"""Acknowledgements batched per event-loop turn: one `multiple` ack for a run of deliveries.

Every ack is a command the broker appends to a quorum queue's log, so fewer acks is less
broker work per message. A `multiple` ack settles every unsettled delivery on the channel up
to its tag, so it is sent only up to the highest tag below which every delivery still held
here is ready to be acked: never past a delivery whose handler is still running or that
is about to be requeued. Deliveries ready above such a gap are acked one by one at once,
so batching never delays an ack.

It relies on every manual-ack consumer having a channel of its own (other consumers on
the channel are no-ack): then every unsettled delivery on the channel is held here, in
tag order, before its handler can finish.
"""

from __future__ import annotations

import asyncio
import logging

from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import AbstractChannel

log = logging.getLogger(__name__)


class AckBatcher:
    def __init__(self, *, name: str) -> None:
        self._name = name
        self._channel: AbstractChannel | None = None
        # Deliveries received and not yet settled, in arrival (= delivery tag) order.
        self._held: dict[int, AbstractIncomingMessage] = {}
        self._ready: set[int] = set()
        self._flush_scheduled = False
        self._sending: set[asyncio.Task[None]] = set()

    def received(self, message: AbstractIncomingMessage) -> None:
        """Hold a delivery from its arrival, so no `multiple` ack covers it before its turn."""
        try:
            channel = message.channel
        except Exception:
            return  # closed already: its ack fails and the broker redelivers it
        if channel is not self._channel:
            # A robust channel reconnected: the old channel's deliveries are being
            # redelivered, and their tags mean nothing on the new one.
            self._channel = channel
            self._held.clear()
            self._ready.clear()
        if message.delivery_tag is not None:
            self._held[message.delivery_tag] = message

    def ack(self, message: AbstractIncomingMessage) -> None:
        """Ack at the end of this loop turn, together with whatever else is ready by then."""
        tag = message.delivery_tag
        if tag is None or self._held.get(tag) is not message:
            self._send(message, multiple=False)  # not held here (an old channel's delivery)
            return
        self._ready.add(tag)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def release(self, message: AbstractIncomingMessage) -> None:
        """Stop holding a delivery settled otherwise (nack, reject): call after sending it,
        so that no later `multiple` ack is written before that nack."""
        if message.delivery_tag is not None and self._held.get(message.delivery_tag) is message:
            del self._held[message.delivery_tag]
            self._ready.discard(message.delivery_tag)

    async def sent(self) -> None:
        """Wait for the acks handed to the channel so far (used before closing it)."""
        while self._sending or self._flush_scheduled:
            await asyncio.gather(*self._sending, asyncio.sleep(0))

    def _flush(self) -> None:
        self._flush_scheduled = False
        # The run of ready deliveries from the oldest held one: one ack covers them all.
        run: list[int] = []
        for tag in self._held:
            if tag not in self._ready:
                break
            run.append(tag)
        if run:
            last = self._held[run[-1]]
            for tag in run:
                del self._held[tag]
                self._ready.discard(tag)
            self._send(last, multiple=len(run) > 1)
        for tag in sorted(self._ready):
            self._send(self._held.pop(tag), multiple=False)
        self._ready.clear()

    def _send(self, message: AbstractIncomingMessage, *, multiple: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._ack(message, multiple=multiple))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _ack(self, message: AbstractIncomingMessage, *, multiple: bool) -> None:
        try:
            await message.ack(multiple=multiple)
        except Exception as error:
            # The channel closed under us: the broker requeued these deliveries, and the
            # runner's memory of handled ids keeps their redelivery from acting twice.
            log.warning(
                "%s: ack of delivery %s failed (%r); it will be redelivered",
                self._name,
                message.delivery_tag,
                error,
            )
