"""What a connection says while the broker is away: the loss once at WARNING, a reminder
every STILL_AWAY_EVERY_S while it lasts (not a WARNING per failed attempt), the return once
at INFO, and nothing for a close of our own."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractRobustConnection

from services.runtime.amqp.broker import RECONNECT_INTERVAL_S, STILL_AWAY_EVERY_S, LinkState


class Callbacks:
    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, callback: Any) -> None:
        self.added.append(callback)


class FakeConnection:
    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.connected.set()
        self.close_callbacks = Callbacks()
        self.reconnect_callbacks = Callbacks()
        self.close_called = False
        self.is_closed = False

    def __str__(self) -> str:
        return "node-a:5672"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def link_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "services.runtime.amqp.broker" and r.levelno == logging.WARNING
    ]


async def test_an_outage_is_one_warning_then_a_reminder_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.runtime.amqp.broker")
    connection, clock = FakeConnection(), Clock()
    link = LinkState(cast(AbstractRobustConnection, connection), clock=clock)
    refused = ConnectionRefusedError(111, "Connect call failed")

    link._on_close(None, ConnectionResetError("reset by peer"))  # the loss
    assert not link.up
    attempts = 0
    while clock.now - 100.0 < STILL_AWAY_EVERY_S - RECONNECT_INTERVAL_S:
        clock.now += RECONNECT_INTERVAL_S
        link._on_close(None, refused)  # a failed attempt
        attempts += 1
    assert len(link_warnings(caplog)) == 1, "one warning for the loss, none per attempt"
    assert "lost (ConnectionResetError: reset by peer)" in link_warnings(caplog)[0]

    clock.now += RECONNECT_INTERVAL_S
    link._on_close(None, refused)
    reminder = link_warnings(caplog)[1:]
    assert len(reminder) == 1
    assert f"still no connection {STILL_AWAY_EVERY_S:.0f} s after the loss" in reminder[0]
    assert f"{attempts + 1} attempts" in reminder[0]
    assert "ConnectionRefusedError" in reminder[0]

    link._on_reconnect(None)
    assert link.up
    restored = [r for r in caplog.records if "restored" in r.getMessage()]
    assert [r.levelno for r in restored] == [logging.INFO]
    assert len(link_warnings(caplog)) == 2


async def test_our_own_close_is_no_loss(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="services.runtime.amqp.broker")
    connection, clock = FakeConnection(), Clock()
    link = LinkState(cast(AbstractRobustConnection, connection), clock=clock)
    connection.close_called = True
    link._on_close(None, None)
    clock.now += 2 * STILL_AWAY_EVERY_S
    link._on_close(None, None)
    assert not link.up
    assert link_warnings(caplog) == []
