"""The edge's publisher: a call's events in order, other calls unhindered, a bad channel
replaced, and nothing dropped without a count when it stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from contracts import KeyPress
from contracts.events import AnyEvent
from services.edge.publisher import BufferingPublisher, PublishBufferFull
from services.runtime.metrics import Metrics


class Channel:
    """Stands in for the broker's confirming channel: each send takes the next scripted
    result; `nack_until_renewed` makes every send fail until `renew()`, as a channel that
    saw a quorum queue's leader die does."""

    def __init__(self, *results: BaseException | None, nack_until_renewed: bool = False) -> None:
        self.results = list(results)
        self.sent: list[str] = []
        self.renewed = 0
        self.nacking = nack_until_renewed
        self.connected = asyncio.Event()
        self.connected.set()
        self.gate: dict[str, asyncio.Event] = {}  # event id -> hold its confirm until set

    async def send(self, event: AnyEvent, *, timeout: float) -> None:
        if event.event_id in self.gate:
            await self.gate[event.event_id].wait()
        if self.nacking:
            raise ConnectionError("Basic.Nack")
        result = self.results.pop(0) if self.results else None
        if result is not None:
            raise result
        self.sent.append(event.event_id)

    async def renew(self) -> None:
        self.renewed += 1
        self.nacking = False


class Spooled:
    def __init__(self, *, fail: bool = False) -> None:
        self.events: list[AnyEvent] = []
        self.fail = fail

    def save(self, events: list[AnyEvent]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.events.extend(events)


def press(n: int, call: str = "c") -> KeyPress:
    return KeyPress(
        event_id=f"{call}{n}",
        call_id=call,
        reply_to="edge",
        source="simulator",
        key="1",
        sequence=n,
        pressed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def publisher(
    channel: Channel, *, capacity: int = 100, spool: Spooled | None = None
) -> BufferingPublisher:
    return BufferingPublisher(
        channel,
        Metrics(),
        capacity=capacity,
        confirm_timeout_s=1,
        spool=spool,
    )


async def test_after_a_failed_publish_the_calls_next_events_wait_behind_it() -> None:
    channel = Channel(ConnectionError("broker gone"))
    pub = publisher(channel)
    await pub.publish(press(1))  # fails: held for a retry
    await pub.publish(press(2))  # queued behind it, not sent ahead
    assert await pub.stop(timeout=5)
    assert channel.sent == ["c1", "c2"]


async def test_a_slow_confirm_holds_back_its_call_only() -> None:
    channel = Channel()
    channel.gate["a1"] = asyncio.Event()
    pub = publisher(channel)
    first = asyncio.create_task(pub.publish(press(1, "a")))  # its confirm is slow
    await asyncio.sleep(0)  # let it reach the channel
    await pub.publish(press(2, "a"))  # same call: waits behind it, returns at once
    await pub.publish(press(1, "b"))  # another call: straight out
    assert channel.sent == ["b1"]
    assert pub.buffered == 1  # a2 is held; a1, only awaiting its confirm, is not
    channel.gate["a1"].set()
    await first
    assert await pub.stop(timeout=5)
    assert channel.sent == ["b1", "a1", "a2"]


async def test_repeated_failures_on_a_live_connection_replace_the_channel() -> None:
    channel = Channel(nack_until_renewed=True)
    pub = publisher(channel)
    for n in range(1, 4):
        await pub.publish(press(n))
    assert await pub.stop(timeout=5)
    assert channel.renewed == 1
    assert channel.sent == ["c1", "c2", "c3"]


async def test_a_full_buffer_refuses_loudly() -> None:
    channel = Channel()
    channel.connected.clear()  # the broker is away: everything is held
    pub = publisher(channel, capacity=2)
    await pub.publish(press(1))
    await pub.publish(press(2, "d"))
    with pytest.raises(PublishBufferFull):
        await pub.publish(press(3))
    assert pub.buffered == 2


async def test_what_is_left_at_stop_is_spooled_in_order() -> None:
    channel = Channel()
    channel.connected.clear()
    spool = Spooled()
    pub = publisher(channel, spool=spool)
    for n in range(1, 4):
        await pub.publish(press(n))
    assert await pub.stop(timeout=0.05)
    assert [e.event_id for e in spool.events] == ["c1", "c2", "c3"]
    assert channel.sent == []


async def test_what_cannot_be_spooled_is_counted_as_dropped() -> None:
    channel = Channel()
    channel.connected.clear()
    metrics = Metrics()
    pub = BufferingPublisher(
        channel, metrics, capacity=10, confirm_timeout_s=1, spool=Spooled(fail=True)
    )
    await pub.publish(press(1))
    assert not await pub.stop(timeout=0.05)
    dropped = metrics.registry.get_sample_value("dtmf_events_dropped_total", {"type": "key_press"})
    assert dropped == 1


async def test_a_handed_off_event_is_confirmed_through_its_future() -> None:
    channel = Channel(ConnectionError("not yet"))
    pub = publisher(channel)
    await asyncio.wait_for(pub.handoff(press(1)), 5)
    assert channel.sent == ["c1"]


async def test_a_confirm_cancelled_by_a_closing_channel_is_retried_not_raised() -> None:
    # aiormq cancels the confirms a closing channel still owes: the caller is not cancelled.
    channel = Channel(asyncio.CancelledError())
    pub = publisher(channel)
    await pub.publish(press(1))
    assert await pub.stop(timeout=5)
    assert channel.sent == ["c1"]


class DroppingChannel(Channel):
    """A channel whose connection drops on the send scripted as DROP: the send fails and the
    link goes down (as aio-pika's close callbacks clear it) until the test brings it back."""

    DROP = ConnectionError("connection dropped")

    def __init__(self, *results: BaseException | None) -> None:
        super().__init__(*results)
        self.dropped = asyncio.Event()

    async def send(self, event: AnyEvent, *, timeout: float) -> None:
        if self.results and self.results[0] is self.DROP:
            self.connected.clear()
            self.dropped.set()
        await super().send(event, timeout=timeout)


async def test_after_the_link_returns_a_held_event_is_retried_at_the_first_pace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The back-off grown before an outage must not hold the caller after it: once the link
    # is back, a failure (a nack while a leader is elected) waits the shortest delay again.
    monkeypatch.setattr("services.edge.publisher.RETRY_DELAYS_S", (0.0, 60.0))
    nack = ConnectionError("Basic.Nack")
    channel = DroppingChannel(nack, DroppingChannel.DROP, nack, None)
    pub = publisher(channel)
    await pub.publish(press(1))
    await asyncio.wait_for(channel.dropped.wait(), 5)
    channel.connected.set()  # aio-pika reconnected
    assert await pub.stop(timeout=5)  # confirmed, not left to the 60 s delay and dropped
    assert channel.sent == ["c1"]
