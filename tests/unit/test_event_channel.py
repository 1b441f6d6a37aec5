"""When the edge's events channel counts as stuck (and is replaced): publishes wait and the
broker has answered none of them for the stall bound. A slow broker, one that still answers
something, or an idle channel is never stuck. And what a renewal replaces: a channel, then
the connection, but nothing while the connection itself is gone (aio-pika reconnects it)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from services.edge.event_channel import AmqpEventChannel, StallWatch

STALL_S = 1.0


def test_publishes_unanswered_past_the_bound_are_a_stall() -> None:
    watch = StallWatch(stall_s=STALL_S)
    watch.sent(10.0)
    watch.sent(10.4)
    assert not watch.stalled(10.9)
    assert watch.stalled(11.1)


def test_a_broker_that_answers_something_is_slow_not_stuck() -> None:
    watch = StallWatch(stall_s=STALL_S)
    watch.sent(10.0)
    watch.sent(10.1)
    watch.answered(10.8)  # a confirm (or a nack) of another publish
    watch.settled()
    assert not watch.stalled(11.5)  # the oldest waits 1.5 s, but the broker is working
    assert watch.stalled(11.9)


def test_an_idle_channel_is_never_stuck_and_idle_time_does_not_count() -> None:
    watch = StallWatch(stall_s=STALL_S)
    watch.sent(10.0)
    watch.answered(10.01)
    watch.settled()
    assert not watch.stalled(60.0)
    watch.sent(60.0)  # the first publish after a quiet minute gets its own second
    assert not watch.stalled(60.5)
    assert watch.stalled(61.1)


def test_a_fresh_channel_gets_a_window_of_its_own() -> None:
    watch = StallWatch(stall_s=STALL_S)
    watch.sent(10.0)
    assert watch.stalled(11.1)
    watch.restart(11.2)  # replaced; the stuck publish fails and is sent again
    watch.settled()
    watch.sent(11.3)
    assert not watch.stalled(12.1)
    assert watch.stalled(12.4)


class _Transport:
    def __init__(self) -> None:
        self.connection = SimpleNamespace(is_closed=False)


class _Connection:
    """What AmqpEventChannel uses of a robust connection; `drop()` is a node's death as aio-pika
    sees it before its close callbacks have run: the transport is gone, reconnecting."""

    def __init__(self) -> None:
        self.transport: _Transport | None = _Transport()
        self.connected = asyncio.Event()
        self.connected.set()
        self.close_callbacks: set[object] = set()
        self.reconnect_callbacks: set[object] = set()
        self.channels = 0

    async def channel(self, *, publisher_confirms: bool) -> SimpleNamespace:
        assert publisher_confirms
        if self.transport is None:
            raise RuntimeError("closed")
        self.channels += 1

        async def get_exchange(name: str, *, ensure: bool) -> str:
            return name

        async def close() -> None:
            pass

        return SimpleNamespace(get_exchange=get_exchange, close=close)

    def drop(self) -> None:
        self.transport = None

    async def close(self) -> None:
        self.transport = None


class _Connections:
    def __init__(self) -> None:
        self.opened: list[_Connection] = []

    async def __call__(self) -> _Connection:
        self.opened.append(_Connection())
        return self.opened[-1]


async def test_renewals_on_a_live_connection_open_channels_then_a_fresh_connection() -> None:
    connect = _Connections()
    link = AmqpEventChannel(connect, stall_s=0.0)  # type: ignore[arg-type]
    await link.open()
    for _ in range(3):
        await link.renew()
    assert connect.opened[0].channels == 3  # the first, and two fresh ones
    assert len(connect.opened) == 2  # the third renewal: a fresh connection
    await link.close()


async def test_renewals_while_the_connection_is_gone_leave_it_to_aio_pika() -> None:
    """The connection dropped: aio-pika reconnects it and restores the channel by itself. A
    fresh channel cannot open, and a second connection raced against that reconnect only
    adds a switch-over that fails the publishes in flight (callers waited 2.2 s, not 1 s)."""
    connect = _Connections()
    link = AmqpEventChannel(connect, stall_s=0.0)  # type: ignore[arg-type]
    await link.open()
    connect.opened[0].drop()
    for _ in range(3):
        await link.renew()
    assert len(connect.opened) == 1
    assert connect.opened[0].channels == 1
    await link.close()
