"""What happens to one decoded event inside a consumer service, before and after its handler.

Free of aio-pika, even through what it imports (`make lint` checks it with import-linter):
the runner settles deliveries by the Outcome returned (or the exception raised) here, and
replies leave through the `send_reply` callable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta

from contracts.base import utcnow
from contracts.events import CallEnded, CallEvent, KeyPress
from contracts.replies import Reply
from services.runtime import logs, tracing
from services.runtime.outcomes import BadMessage, Expired, Outcome
from services.runtime.recent_ids import RecentIds
from services.runtime.service import ConsumerService

log = logging.getLogger(__name__)

SendReply = Callable[[Reply, str], Awaitable[None]]


class CallLocks:
    """A call's events are handled one at a time, in arrival order, while other calls
    proceed. Uncontended, the usual case (one event of a call in flight), a turn costs a
    dict entry: no lock object, no future."""

    def __init__(self) -> None:
        # call id -> the turns waiting behind the event being handled
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    async def acquire(self, call_id: str) -> None:
        waiting = self._waiting.get(call_id)
        if waiting is None:
            self._waiting[call_id] = deque()
            return
        turn = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release(call_id)  # handed the turn while being cancelled: pass it on
            raise

    def release(self, call_id: str) -> None:
        waiting = self._waiting[call_id]
        while waiting:
            turn = waiting.popleft()
            if not turn.done():  # a cancelled waiter's turn is done already: skip it
                turn.set_result(None)
                return
        del self._waiting[call_id]

    def __len__(self) -> int:
        return len(self._waiting)


class Dispatcher:
    def __init__(
        self,
        service: ConsumerService,
        *,
        send_reply: SendReply,
        max_age: timedelta | None,
        observe_duration: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._service = service
        self._send_reply = send_reply
        self._max_age = max_age if service.interactive else None
        self._observe = observe_duration
        self.ended = RecentIds(size=100_000)
        self.locks = CallLocks()

    async def __call__(self, event: CallEvent) -> Outcome:
        # The runner gives each handling a task of its own: these stay with this event.
        logs.bind(call_id=event.call_id, event_id=event.event_id, service=self._service.name)
        await self.locks.acquire(event.call_id)
        try:
            if tracing.tracer is None:
                return await self._dispatch(event)
            return await self._traced(event)
        finally:
            self.locks.release(event.call_id)

    async def _traced(self, event: CallEvent) -> Outcome:
        with tracing.handling(
            self._service.name,
            call_id=event.call_id,
            event_id=event.event_id,
            event_type=type(event).__name__,
        ) as span:
            outcome = await self._dispatch(event)
            span.set_attribute("dtmf.outcome", outcome.value)
            return outcome

    async def _dispatch(self, event: CallEvent) -> Outcome:
        service = self._service
        if isinstance(event, CallEnded) and service.interactive:
            self.ended.add(event.call_id)
            if CallEnded not in service.accepts:
                return Outcome.NO_REPLY
        if not isinstance(event, service.accepts):
            raise BadMessage(f"{service.name} does not take {type(event).__name__} events")
        if isinstance(event, KeyPress) and service.interactive:
            self._check_fresh(event)
            if event.call_id in self.ended:
                log.info(
                    "%s: press %s of ended call %s dropped",
                    service.name,
                    event.event_id,
                    event.call_id,
                )
                return Outcome.STALE_CALL
        started = time.perf_counter()
        try:
            actions = await service.handler(event)
            if not actions:
                return Outcome.NO_REPLY
            reply = Reply(
                call_id=event.call_id,
                in_reply_to=event.event_id,
                sequence=getattr(event, "sequence", None),
                service=service.name,
                actions=list(actions),
            )
            await self._send_reply(reply, event.reply_to)
            return Outcome.REPLIED
        finally:
            self._observe(time.perf_counter() - started)

    def _check_fresh(self, press: KeyPress) -> None:
        if self._max_age is None:
            return
        age = press.age(utcnow())  # from the earlier of pressed_at and received_at
        if age > self._max_age:
            raise Expired(
                f"expired: press waited {age.total_seconds():.1f}s, "
                f"more than {self._max_age.total_seconds():.1f}s"
            )
