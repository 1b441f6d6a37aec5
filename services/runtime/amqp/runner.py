"""The one place that decides ack, requeue and dead-lettering for every consumer.

A handler never sees aio-pika: the runner checks the envelope, decodes, skips
duplicates, calls the handler and settles the delivery by what happened.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from pydantic import ValidationError

from contracts.wire import MEDIA_TYPE, content_type_problem
from services.runtime import tracing
from services.runtime.amqp.acks import AckBatcher
from services.runtime.amqp.codec import to_dead_letter
from services.runtime.outcomes import BadMessage, Expired, Outcome
from services.runtime.recent_ids import RecentIds

log = logging.getLogger(__name__)

M = TypeVar("M")


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return f"invalid message ({error.error_count()} errors): " + "; ".join(parts)


class Runner(Generic[M]):
    """Consumes one queue: decode -> (dedupe) -> handle -> settle."""

    def __init__(
        self,
        *,
        name: str,
        decode: Callable[[bytes], M],
        handle: Callable[[M], Awaitable[Outcome]],
        dead: AbstractExchange,
        identify: Callable[[M], str] | None = None,
        max_body_bytes: int = 64 * 1024,
        on_outcome: Callable[[Outcome], None] | None = None,
        group: str | None = None,
    ) -> None:
        self.name = name
        # Its spans' consumer group: the service, or `edge` for every edge's reply queue (a
        # span name must not carry a per-process id).
        self._group = group or name
        self._decode = decode
        self._handle = handle
        self._dead = dead
        self._identify = identify
        self._recent = RecentIds(size=50_000)
        self._handling: dict[str, asyncio.Future[Outcome]] = {}
        self._max_body_bytes = max_body_bytes
        self._on_outcome = on_outcome
        self._acks = AckBatcher(name=name)
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        self._acks.received(message)
        self._in_flight += 1
        self._idle.clear()
        try:
            if tracing.tracer is None:
                outcome = await self._process(message)
            else:
                outcome = await self._traced(message)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    async def drained(self, *, timeout: float) -> bool:
        """Wait for in-flight deliveries to settle; False if the bound ran out first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
                await self._acks.sent()
        except TimeoutError:
            return False
        return True

    async def _traced(self, message: AbstractIncomingMessage) -> Outcome:
        """`_process` in a span continuing the trace the message's headers carry; the
        handler's task, started inside, inherits it."""
        with tracing.consuming(
            self._group,
            self.name,
            message.headers,
            exchange=message.exchange,
            routing_key=message.routing_key,
            message_id=message.message_id,
        ) as span:
            outcome = await self._process(message)
            span.set_attribute("dtmf.outcome", outcome.value)
            return outcome

    async def _process(self, message: AbstractIncomingMessage) -> Outcome:
        try:
            decoded = self._check_and_decode(message)
        except BadMessage as error:
            await self._dead_letter(message, str(error))
            return Outcome.DEAD_LETTERED
        key = self._identify(decoded) if self._identify else None
        if key is not None:
            # A redelivery can arrive while the first delivery is still being handled (its
            # channel closed under it): wait for that one; if it succeeded, this is a duplicate.
            while (earlier := self._handling.get(key)) is not None:
                await asyncio.wait([earlier])
            if key in self._recent:
                log.info("%s: duplicate %s acknowledged without handling", self.name, key)
                self._acks.ack(message)
                return Outcome.DUPLICATE
        # Shielded: a closing channel cancels its consumer tasks, but a handler that has
        # begun (a write, a reply) runs to its end and is remembered as done, so the
        # redelivery that follows the reconnect is not acted on twice.
        handling = asyncio.ensure_future(self._handle(decoded))
        if key is not None:
            self._handling[key] = handling
            handling.add_done_callback(functools.partial(self._handled, key))
        try:
            outcome = await asyncio.shield(handling)
        except BadMessage as error:
            await self._dead_letter(message, str(error))
            return Outcome.EXPIRED if isinstance(error, Expired) else Outcome.DEAD_LETTERED
        except Exception:
            # Possibly transient: redeliver. The quorum queue's delivery limit
            # dead-letters a message that keeps failing.
            log.exception("%s: handler failed on %s; requeueing", self.name, message.message_id)
            try:
                await message.nack(requeue=True)
            finally:
                self._acks.release(message)
            return Outcome.REQUEUED
        self._acks.ack(message)
        return outcome

    def _handled(self, key: str, handling: asyncio.Future[Outcome]) -> None:
        if self._handling.get(key) is handling:
            del self._handling[key]
        if not handling.cancelled() and handling.exception() is None:
            self._recent.add(key)

    def _check_and_decode(self, message: AbstractIncomingMessage) -> M:
        content_type = message.content_type
        if content_type != MEDIA_TYPE and (problem := content_type_problem(content_type)):
            raise BadMessage(problem)
        if len(message.body) > self._max_body_bytes:
            raise BadMessage(f"oversize body: {len(message.body)} bytes > {self._max_body_bytes}")
        try:
            return self._decode(message.body)
        except ValidationError as error:
            raise BadMessage(describe_validation_error(error)) from None
        except ValueError as error:
            raise BadMessage(f"invalid message: {error}") from None

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        log.warning(
            "%s: dead-lettering message %s from %s/%s: %s",
            self.name,
            message.message_id,
            message.exchange,
            message.routing_key,
            reason,
        )
        # Publish (confirmed) before ack: a crash in between duplicates a dead
        # letter rather than losing it.
        await self._dead.publish(
            to_dead_letter(message, reason=reason, service=self.name),
            routing_key=message.routing_key or "",
        )
        self._acks.ack(message)
