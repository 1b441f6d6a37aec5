"""The media edge's core: turns a source's key presses into events and replies into actions.

Sources (VideoSDK, the simulator) call `start_call`, `press` and `end_call`; the
reply consumer calls `apply_reply`. `Edge` is the facade over the parts, each in a module
of its own: admission (load shedding), pending (reply timeouts), gather (collecting
digits) and actions (what a reply does). Nothing here imports aio-pika, even indirectly
(`make lint` checks it with import-linter); the link state's type is named for type
checking only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from contracts.base import new_id, utcnow
from contracts.events import AnyEvent, CallEnded, CallStarted, KeyPress
from contracts.replies import Reply
from services.edge.actions import Actions
from services.edge.admission import BUSY_PROMPT, Admission, EdgeBusy
from services.edge.calls import Call, CallRegistry, CallSession
from services.edge.gather import MASKED_KEY, Gathering, Gathers
from services.edge.handle import PressHandle, handle_for
from services.edge.pending import TIMEOUT_PROMPT, PendingReplies
from services.runtime import logs, tracing
from services.runtime.metrics import Metrics
from services.runtime.outcomes import Outcome
from services.runtime.transfers import TransferAllowlist

if TYPE_CHECKING:  # the core stays free of aio-pika; the adapter sets the link
    from services.runtime.amqp.broker import LinkState

# Importers take these from here, as before the edge was split.
__all__ = ["BUSY_PROMPT", "TIMEOUT_PROMPT", "Edge", "EdgeBusy", "EventPublisher", "PressHandle"]

log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    async def publish(self, event: AnyEvent) -> None: ...


class Edge:
    def __init__(
        self,
        *,
        edge_id: str,
        publisher: EventPublisher,
        metrics: Metrics | None = None,
        reply_timeout_s: float = 5.0,
        timeout_prompt: str = TIMEOUT_PROMPT,
        barge_in: bool = False,
        max_unanswered: int = 0,
        busy_prompt: str = BUSY_PROMPT,
        transfer_allow: TransferAllowlist | None = None,
    ) -> None:
        self.edge_id = edge_id
        self.http_port: int | None = None  # set by the adapter that serves /metrics
        self.link: LinkState | None = None  # set by the broker adapter
        self.calls = CallRegistry()
        self._publisher = publisher
        self.metrics = metrics if metrics is not None else Metrics()
        self.metrics.live_calls.set_function(lambda: float(len(self.calls)))
        # Outside a gather, does a press cut the agent's speech short? (Inside: Gather.barge_in.)
        self._barge_in = barge_in
        self._pending = PendingReplies(
            self.metrics, reply_timeout_s=reply_timeout_s, timeout_prompt=timeout_prompt
        )
        self._admission = Admission(
            edge_id=edge_id,
            metrics=self.metrics,
            max_unanswered=max_unanswered,
            busy_prompt=busy_prompt,
        )
        self._applied = self.metrics.replies_applied.labels("applied")
        self._not_live = self.metrics.replies_applied.labels("call_not_live")
        self._duplicate = self.metrics.replies_applied.labels("duplicate")
        self._superseded = self.metrics.replies_applied.labels("superseded")
        self._gathers = Gathers(edge_id=edge_id, publish=publisher.publish, pending=self._pending)
        self._actions = Actions(
            self.metrics,
            transfer_allow=transfer_allow or TransferAllowlist(),  # none: transfer nowhere
            gathers=self._gathers,
            end_call=self._hung_up,
        )

    async def start_call(
        self,
        session: CallSession,
        *,
        source: str,
        call_id: str | None = None,
        caller: str | None = None,
    ) -> Call:
        call = Call(call_id=call_id or new_id(), source=source, session=session)
        self.calls.add(call)
        await self._publisher.publish(
            CallStarted(call_id=call.call_id, reply_to=self.edge_id, source=source, caller=caller)
        )
        log.info("call %s started (source %s)", call.call_id, source)
        return call

    async def press(
        self,
        call: Call,
        raw_key: object,
        *,
        pressed_at: datetime | None = None,
        duration_ms: int | None = None,
        source_message_id: str | None = None,
        participant_id: str | None = None,
        source_payload: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> PressHandle:
        """Normalize and publish one press, and hand back a handle on its reply (its
        `event` is the published KeyPress). Raises contracts.InvalidKey for a bad key, and
        EdgeBusy when it sheds the press (not during a gather: those presses are an input).
        `source` names where the press came from when not the call's source (``inband``)."""
        if call.gather is None:
            self._admission.admit(call, self._pending.unanswered)
        gathering = call.gather
        sensitive = gathering is not None and gathering.spec.sensitive
        received = time.perf_counter()
        received_at = utcnow()
        event = KeyPress(
            call_id=call.call_id,
            reply_to=self.edge_id,
            source=source or call.source,
            key=raw_key,  # normalized by the model's validator
            sequence=call.presses + 1,
            pressed_at=pressed_at or received_at,
            received_at=received_at,
            duration_ms=duration_ms,
            source_message_id=source_message_id,
            participant_id=participant_id,
            source_payload=dict(source_payload or {}),
            collecting=gathering.spec.name if gathering else None,
            sensitive=sensitive,
        )
        call.next_sequence()
        self.metrics.presses_received.labels(_shown(event), event.source).inc()
        if gathering is None:
            return await self._send_for_reply(call, event, received)
        return await self._send_collected(call, gathering, event)

    async def _send_for_reply(self, call: Call, event: KeyPress, received: float) -> PressHandle:
        """Publish a press that waits for its own reply."""
        span = tracing.begin(event)  # the press's trace, to its reply
        self._pending.wait(call, event.event_id, received, event.sequence, span)
        # Taken before the publish: one held (awaiting its confirm) past the reply timeout,
        # when call.pending has forgotten the press, must still hand back its reply.
        handle = handle_for(call, event)
        if self._barge_in:
            await call.session.interrupt()
        await self._publisher.publish(event)
        log.debug("call %s pressed %s (#%d)", call.call_id, _shown(event), event.sequence)
        return handle

    async def _send_collected(
        self, call: Call, gathering: Gathering, event: KeyPress
    ) -> PressHandle:
        """Publish a press a gather collects; its handle answers only if it ended the input."""
        tracing.carry(event.event_id, call.gather_trace)  # collected: in the gather's trace
        await self._publisher.publish(event)
        log.debug("call %s pressed %s (#%d)", call.call_id, _shown(event), event.sequence)
        await self._gathers.collect(call, gathering, event)
        # After collect: only then is the input this press completed (if any) known.
        return handle_for(call, event)

    async def end_call(self, call: Call, *, reason: str = "hangup") -> None:
        if self.calls.remove(call.call_id) is None:
            return
        call.ended = True
        self._gathers.stop(call)  # a call ending mid-gather publishes no input
        self._pending.settle_all(call)
        await self._publisher.publish(
            CallEnded(
                call_id=call.call_id, reply_to=self.edge_id, source=call.source, reason=reason
            )
        )
        log.info("call %s ended (%s)", call.call_id, reason)

    async def _hung_up(self, call: Call, reason: str) -> None:
        await self.end_call(call, reason=reason)

    async def apply_reply(self, reply: Reply) -> Outcome:
        """Apply a reply's actions in order to its call, once per press and service, and
        never after a reply to a newer press of the same call."""
        logs.bind(call_id=reply.call_id, event_id=reply.in_reply_to)  # in the reply's own task
        call = self.calls.get(reply.call_id)
        if call is None:
            self._not_live.inc()
            log.info("reply %s for call %s dropped: not live here", reply.reply_id, reply.call_id)
            return Outcome.STALE_CALL
        async with call.lock:
            return await self._apply(call, reply)

    async def _apply(self, call: Call, reply: Reply) -> Outcome:
        refused = self._refusal(call, reply)
        if refused is not None:
            return refused
        if reply.sequence is not None:
            call.last_applied_sequence = reply.sequence
        call.remember_applied((reply.in_reply_to, reply.service), reply.sequence)
        pending = call.pending.get(reply.in_reply_to)
        await self._actions.run(call, reply)
        self._applied.inc()
        self._pending.answered(call, pending, reply)
        if reply.sequence is not None:
            self._pending.settle_older(call, reply.sequence)
        return Outcome.REPLIED

    def _refusal(self, call: Call, reply: Reply) -> Outcome | None:
        """Why this reply must not be applied (counted and logged), or None if it may."""
        if (reply.in_reply_to, reply.service) in call.applied:
            self._duplicate.inc()
            log.info("duplicate reply from %s to %s dropped", reply.service, reply.in_reply_to)
            return Outcome.DUPLICATE
        if reply.sequence is not None and reply.sequence < call.last_applied_sequence:
            self._superseded.inc()
            log.info(
                "call %s: reply to press #%d dropped: press #%d was already answered",
                call.call_id,
                reply.sequence,
                call.last_applied_sequence,
            )
            return Outcome.SUPERSEDED
        return None


def _shown(press: KeyPress) -> str:
    """The key as logs and metric labels may show it: a secret digit is masked."""
    return MASKED_KEY if press.sensitive else press.key
