"""`BusDTMFHandler`: the `DTMFHandler` whose callback gets the whole PubSub message.

It replaces the stock `DTMFHandler` callback path. The stock handler reads
``message["payload"]["number"]``, drops the rest (id, timestamps, sender) and returns early on
a falsy digit, so a numeric 0 never arrives. This one hands over the whole PubSub message.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from videosdk import PubSubSubscribeConfig
from videosdk.agents import DTMFHandler

from services.edge.videosdk.messages import DTMF_TOPIC

log = logging.getLogger(__name__)

MessageCallback = Callable[[Mapping[str, Any]], Awaitable[None] | None]


class BusDTMFHandler(DTMFHandler):  # type: ignore[misc]  # videosdk ships no type hints
    """A `DTMFHandler` that hands the whole PubSub message to its callback and keeps key 0.

    Like the stock handler it must be built inside a job (it reads the job context), and
    `AgentSession.start` calls `start`, which subscribes to ``DTMF_EVENT`` on the room.
    """

    def __init__(self, callback: MessageCallback) -> None:
        super().__init__(callback=None)
        self._subscribed: bool = False
        self._on_message = callback
        self._tasks: set[asyncio.Task[None]] = set()

    def set_callback(self, callback: MessageCallback) -> None:
        self._on_message = callback

    async def start(self) -> None:
        # Replaces the base start only to keep a reference to each delivery task: the stock
        # handler's `asyncio.create_task` result is dropped, so a press could be collected
        # mid-publish, and shutdown could not wait for presses still in flight.
        if self._subscribed:
            return
        room = getattr(self.ctx, "room", None)
        if room is None:
            raise RuntimeError("BusDTMFHandler needs the job's room: start it from AgentSession")
        await room.subscribe_to_pubsub(PubSubSubscribeConfig(topic=DTMF_TOPIC, cb=self._schedule))
        self._subscribed = True

    def _schedule(self, message: object) -> None:
        # VideoSDK's PubSub calls back synchronously on the room's loop. Tasks start in
        # arrival order and `Edge.press` numbers a press before its first await, so
        # sequence numbers follow the order the keys were pressed.
        task = asyncio.create_task(self._on_pubsub_event(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every message received so far has been handled."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _on_pubsub_event(self, message: object) -> None:
        try:
            if not isinstance(message, Mapping):
                log.warning("DTMF message dropped: not an object: %r", message)
                return
            result = self._on_message(message)
            if inspect.isawaitable(result):
                await result
        except Exception:
            # Never into the room's loop: one bad press must not end the call's key handling.
            log.exception("DTMF message could not be handled: %r", message)
