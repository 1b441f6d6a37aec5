"""Ack batching: one `multiple` ack per loop turn, never past a delivery not yet settled."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aio_pika.abc import AbstractIncomingMessage

from services.runtime.amqp.acks import AckBatcher
from tests.unit.deliveries import Delivery, Wire


def deliveries(wire: Wire, channel: object, count: int, *, first: int = 1) -> list[Any]:
    return [Delivery(wire, channel, tag) for tag in range(first, first + count)]


def held(batcher: AckBatcher, messages: list[Any]) -> None:
    for message in messages:
        batcher.received(cast(AbstractIncomingMessage, message))


async def test_deliveries_ready_in_one_turn_are_acked_by_one_multiple_ack() -> None:
    wire, batcher = Wire(), AckBatcher(name="t")
    messages = deliveries(wire, object(), 5)
    held(batcher, messages)
    for message in messages:
        batcher.ack(message)
    await batcher.sent()
    assert wire.frames == [("ack", 5, True)]


async def test_no_multiple_ack_passes_a_delivery_still_being_handled() -> None:
    wire, batcher = Wire(), AckBatcher(name="t")
    m1, m2, m3, m4 = deliveries(wire, object(), 4)
    held(batcher, [m1, m2, m3, m4])
    for message in (m1, m3, m4):  # m2's handler is still running
        batcher.ack(message)
    await batcher.sent()
    # m1 alone below the gap; m3 and m4 one by one, so m2 stays unacked on the broker.
    assert wire.frames == [("ack", 1, False), ("ack", 3, False), ("ack", 4, False)]
    batcher.ack(m2)
    await batcher.sent()
    assert wire.frames[-1] == ("ack", 2, False)


async def test_a_requeued_delivery_is_never_covered_by_a_later_multiple_ack() -> None:
    wire, batcher = Wire(), AckBatcher(name="t")
    m1, m2, m3 = deliveries(wire, object(), 3)
    held(batcher, [m1, m2, m3])
    await m1.nack(requeue=True)  # the runner sends the nack, then releases the delivery
    batcher.release(m1)
    batcher.ack(m2)
    batcher.ack(m3)
    await batcher.sent()
    assert wire.frames == [("nack", 1, False), ("ack", 3, True)]


async def test_acks_of_later_turns_batch_from_where_the_last_one_ended() -> None:
    wire, batcher = Wire(), AckBatcher(name="t")
    messages = deliveries(wire, object(), 6)
    held(batcher, messages)
    for message in messages[:3]:
        batcher.ack(message)
    await asyncio.sleep(0)  # the loop turns: the first batch goes out alone
    for message in messages[3:]:
        batcher.ack(message)
    await batcher.sent()
    assert wire.frames == [("ack", 3, True), ("ack", 6, True)]


async def test_after_a_reconnect_old_deliveries_are_acked_alone_and_new_ones_batch() -> None:
    wire, batcher = Wire(), AckBatcher(name="t")
    old_channel, new_channel = object(), object()
    old = deliveries(wire, old_channel, 2)
    held(batcher, old)
    new = deliveries(wire, new_channel, 2)  # tags restart at 1 on the new channel
    held(batcher, new)
    batcher.ack(old[1])
    for message in new:
        batcher.ack(message)
    await batcher.sent()
    acks = sorted(zip(wire.frames, wire.channels, strict=True), key=lambda a: a[0][2])
    assert acks == [(("ack", 2, False), old_channel), (("ack", 2, True), new_channel)]
