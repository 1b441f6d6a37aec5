"""Test doubles of the broker's side, shared by the test tiers (the caller's side, the
`RecordingSession`, is in tests/support.py)."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from contracts import AnyEvent

E = TypeVar("E")


class RecordingPublisher:
    """The edge's `EventPublisher` in memory, where the broker is not under test.

    Keeps every event in the order published. Some are published from the edge's own tasks
    (a gather ended by its timeout, a press heard in a VideoSDK room), so a test can wait for
    them instead of sleeping.
    """

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self._published = asyncio.Condition()

    async def publish(self, event: AnyEvent) -> None:
        # Unless a waiter holds it, the lock is taken without suspending: to the edge this
        # publish is as immediate as appending to a list.
        async with self._published:
            self.events.append(event)
            self._published.notify_all()

    def of_type(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]

    async def wait_for(self, kind: type[E], count: int = 1, *, timeout: float = 5.0) -> list[E]:
        """Every event of `kind` so far, once there are at least `count` of them."""
        async with asyncio.timeout(timeout), self._published:
            await self._published.wait_for(lambda: len(self.of_type(kind)) >= count)
        return self.of_type(kind)
