"""The edge's publisher: an outage queues events in order, a slow confirm does not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts import KeyPress
from services.edge.publisher import BufferingPublisher, PublishBufferFull
from services.runtime.metrics import Metrics


class Connection:
    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.connected.set()


class Exchange:
    """Stands in for the broker's exchange: each publish takes the next scripted result."""

    def __init__(self, *results: BaseException | None) -> None:
        self.results = list(results)
        self.sent: list[str] = []

    async def publish(self, message: Any, *, routing_key: str, timeout: float) -> None:
        result = self.results.pop(0) if self.results else None
        if result is not None:
            raise result
        self.sent.append(message.message_id)


def press(n: int) -> KeyPress:
    return KeyPress(
        event_id=f"e{n}",
        call_id="c",
        reply_to="edge",
        source="simulator",
        key="1",
        sequence=n,
        pressed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def publisher(exchange: Exchange, *, capacity: int = 100) -> BufferingPublisher:
    pub = BufferingPublisher(
        exchange,
        Connection(),
        Metrics(),  # type: ignore[arg-type]
        capacity=capacity,
        confirm_timeout_s=1,
    )
    pub.start()
    return pub


async def test_after_a_lost_connection_new_events_wait_behind_the_failed_one() -> None:
    exchange = Exchange(ConnectionError("broker gone"))
    pub = publisher(exchange)
    await pub.publish(press(1))  # fails: buffered, outage
    await pub.publish(press(2))  # queued behind it, not sent ahead
    await pub.stop(timeout=5)
    assert exchange.sent == ["e1", "e2"]


async def test_a_slow_confirm_does_not_hold_back_new_events() -> None:
    exchange = Exchange(TimeoutError())
    pub = publisher(exchange)
    await pub.publish(press(1))  # not confirmed in time: retried later
    await pub.publish(press(2))  # goes straight out
    await pub.stop(timeout=5)
    assert exchange.sent[0] == "e2" and sorted(exchange.sent) == ["e1", "e2"]


async def test_a_full_buffer_refuses_loudly() -> None:
    connection = Connection()
    connection.connected.clear()  # the broker is away: everything is buffered
    pub = BufferingPublisher(
        Exchange(),
        connection,
        Metrics(),  # type: ignore[arg-type]
        capacity=2,
        confirm_timeout_s=1,
    )
    await pub.publish(press(1))
    await pub.publish(press(2))
    with pytest.raises(PublishBufferFull):
        await pub.publish(press(3))
    assert pub.buffered == 2
