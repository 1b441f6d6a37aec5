"""Publishing events so that none is silently lost, and a call's events stay in order.

Each event is published persistent and waits for its publisher confirm. Events of one call
go out one after another: while one is not confirmed, the next ones of that call wait
behind it (its *lane*), and other calls go on. A nacked or unconfirmed event is retried
with a bounded back-off; after repeated failures on a connection that looks up, the
channel is replaced (a channel that saw a quorum queue's leader die can nack every later
publish until that node returns, while a fresh one publishes at once). A retried event may
reach the broker twice; consumers absorb that by event id.

What is still waiting when the edge stops is handed to the spool (a file the next edge
process replays), never dropped without a count. Nothing here knows about aio-pika: the
channel is an `EventChannel` (services/edge/event_channel.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from contracts.events import AnyEvent
from services.runtime.lifecycle import being_cancelled
from services.runtime.metrics import Metrics

log = logging.getLogger(__name__)

Event = AnyEvent
EVENT_TYPES = ("key_press", "call_started", "call_ended", "gathered_input")

# Between retries against a broker that answers with nacks (a quorum queue electing a new
# leader: under a second). Capped low, since a caller's answer waits up to one delay past the
# broker's recovery, and a nack costs the broker little. While the link is down, lanes wait
# for it instead.
RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.25)
# Consecutive failures, with the connection up, before the channel is replaced.
RENEW_AFTER_FAILURES = 2


class PublishBufferFull(RuntimeError):
    """The broker has been away so long that the buffer is full: this event is refused."""


class EventChannel(Protocol):
    """Where events go: a confirming channel that can be replaced by a fresh one."""

    @property
    def connected(self) -> asyncio.Event: ...

    async def send(self, event: Event, *, timeout: float) -> None:
        """Return once the broker confirmed it; raise on a nack, a timeout or a lost link."""

    async def renew(self) -> None:
        """Replace the channel by a fresh one."""


class Spooler(Protocol):
    def save(self, events: list[Event]) -> None:
        """Keep these events durably for a later edge process to publish; raise OSError."""


@dataclass
class _Item:
    event: Event
    done: asyncio.Future[None] | None = None  # for whoever waits for this confirm


@dataclass
class _Lane:
    """A call's events waiting to be confirmed, in order; the head is being sent."""

    items: deque[_Item] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None  # retrying the head, then the rest
    sending: bool = False  # a first send (not in items) awaits its confirm


class BufferingPublisher:
    def __init__(
        self,
        channel: EventChannel,
        metrics: Metrics,
        *,
        capacity: int,
        confirm_timeout_s: float,
        spool: Spooler | None = None,
    ) -> None:
        self._channel = channel
        self._metrics = metrics
        self._capacity = capacity
        self._timeout = confirm_timeout_s
        self._spool = spool
        self._lanes: dict[str, _Lane] = {}
        # Events held in lanes: behind a failed or unconfirmed one of their call, or the
        # outage (a first send awaiting its confirm is not held).
        self._waiting = 0
        self._failures = 0
        self._renewing: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopped = False
        metrics.publish_buffered.set_function(lambda: float(self._waiting))
        for kind in EVENT_TYPES:  # expose zeros, so rate() and alerts see the series from start
            for counter in (
                metrics.events_published,
                metrics.events_confirmed,
                metrics.events_publish_failed,
                metrics.events_dropped,
            ):
                counter.labels(kind)

    @property
    def buffered(self) -> int:
        return self._waiting

    async def publish(self, event: Event) -> None:
        """Confirmed, or queued behind its call's earlier events for a retry (then this
        returns at once); raises PublishBufferFull when the buffer is full."""
        await self._submit(_Item(event))

    def handoff(self, event: Event) -> asyncio.Future[None]:
        """Queue an event (e.g. from the spool) and return a future set once confirmed."""
        item = _Item(event, asyncio.get_running_loop().create_future())
        self._enqueue(item)
        assert item.done is not None
        return item.done

    async def _submit(self, item: _Item) -> None:
        call_id = item.event.call_id
        if call_id in self._lanes or self._stopped or not self._channel.connected.is_set():
            self._enqueue(item)  # behind this call's earlier events (or the outage)
            return
        if self._waiting >= self._capacity:
            self._refuse(item.event)
        # The fast path. The lane marks the call busy, so that a press arriving while this
        # one awaits its confirm queues behind it instead of overtaking it.
        lane = self._new_lane(call_id, sending=True)
        sent = await self._try_send(item.event)
        lane.sending = False
        if sent:
            pass
        elif self._stopped:  # failed after stop() collected the lanes: spool it alone
            self._spool_out([item.event])
        else:
            lane.items.appendleft(item)
            self._count(+1)
        if lane.items and not self._stopped:
            lane.task = self._drain_later(call_id, lane)
        elif not lane.items:
            del self._lanes[call_id]
            self._check_idle()

    def _enqueue(self, item: _Item) -> None:
        if self._waiting >= self._capacity:
            self._refuse(item.event)
        lane = self._lanes.get(item.event.call_id) or self._new_lane(item.event.call_id)
        lane.items.append(item)
        self._count(+1)
        if lane.task is None and not lane.sending and not self._stopped:
            lane.task = self._drain_later(item.event.call_id, lane)

    def _new_lane(self, call_id: str, *, sending: bool = False) -> _Lane:
        lane = self._lanes[call_id] = _Lane(sending=sending)
        self._idle.clear()
        return lane

    def _refuse(self, event: Event) -> None:
        self._metrics.events_publish_failed.labels(event.type).inc()
        log.error(
            "publish buffer full (%d): refusing %s %s", self._capacity, event.type, event.event_id
        )
        raise PublishBufferFull(f"{self._capacity} events already wait for the broker")

    def _drain_later(self, call_id: str, lane: _Lane) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._drain(call_id, lane))
        task.add_done_callback(_log_failure)
        return task

    async def _drain(self, call_id: str, lane: _Lane) -> None:
        attempt = 0
        while lane.items:
            if not self._channel.connected.is_set():
                await self._channel.connected.wait()
                attempt = 0  # the link is back: retry at once, not at the outage's pace
            head = lane.items[0]
            if await self._try_send(head.event):
                lane.items.popleft()
                self._count(-1)
                if head.done is not None and not head.done.done():
                    head.done.set_result(None)
                attempt = 0
                continue
            await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
            attempt += 1
        del self._lanes[call_id]
        self._check_idle()

    async def _try_send(self, event: Event) -> bool:
        self._metrics.events_published.labels(event.type).inc()
        try:
            await self._channel.send(event, timeout=self._timeout)
        except asyncio.CancelledError as cancelled:
            if being_cancelled():
                raise
            # Not us: aiormq cancels the confirms a closing channel still owes. A failure.
            return self._send_failed(event, cancelled)
        except Exception as error:
            return self._send_failed(event, error)
        self._failures = 0
        self._metrics.events_confirmed.labels(event.type).inc()
        return True

    def _send_failed(self, event: Event, error: BaseException) -> bool:
        self._metrics.events_publish_failed.labels(event.type).inc()
        log.warning("publish of %s %s failed (%r); will retry", event.type, event.event_id, error)
        self._failed()
        return False

    def _failed(self) -> None:
        self._failures += 1
        connected = self._channel.connected.is_set()
        if self._failures >= RENEW_AFTER_FAILURES and connected and self._renewing is None:
            self._renewing = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        log.warning("%d publishes failed in a row: opening a fresh channel", self._failures)
        try:
            await self._channel.renew()
            self._failures = 0
        except Exception as error:  # the connection itself is going: it reconnects by itself
            log.warning("could not open a fresh channel (%r)", error)
        finally:
            self._renewing = None

    def _count(self, delta: int) -> None:
        self._waiting += delta

    def _check_idle(self) -> None:
        if not self._lanes:
            self._idle.set()

    async def stop(self, *, timeout: float) -> bool:
        """Give waiting events a bounded chance to go out, then spool the rest. False if
        some could not be spooled either (they were dropped, and counted)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        self._stopped = True
        lanes = list(self._lanes.values())
        for lane in lanes:
            if lane.task is not None:
                lane.task.cancel()
        await asyncio.gather(*(lane.task for lane in lanes if lane.task), return_exceptions=True)
        left = [item.event for lane in lanes for item in lane.items]
        return self._spool_out(left) if left else True

    def _spool_out(self, events: list[Event]) -> bool:
        if self._spool is not None:
            try:
                self._spool.save(events)
            except OSError as error:
                log.error("could not spool %d events (%r)", len(events), error)
            else:
                log.warning("stopping with %d events unconfirmed: spooled", len(events))
                return True
        for event in events:
            self._metrics.events_dropped.labels(event.type).inc()
        log.error("stopping with %d events unpublished: dropped", len(events))
        return False


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("publishing lane failed", exc_info=task.exception())
