"""The media edge's core: turns a source's key presses into events and replies into actions.

Sources (VideoSDK, the simulator) call `start_call`, `press` and `end_call`; the
reply consumer calls `apply_reply`. Nothing here imports aio-pika, even indirectly (`make
lint` checks it with import-linter); the link state's type is named for type checking only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from contracts.base import new_id, utcnow
from contracts.events import AnyEvent, CallEnded, CallStarted, GatheredInput, GatherEnd, KeyPress
from contracts.replies import Gather, Hangup, Reply, Say, SendDigits, SetInstructions, Transfer
from services.edge.calls import (
    SEND_DIGITS_REFUSALS,
    Call,
    CallRegistry,
    CallSession,
    DigitSender,
    PendingPress,
    send_digits_refusal,
)
from services.edge.gather import MASKED_KEY, Gathering
from services.runtime import logs, tracing
from services.runtime.metrics import Metrics
from services.runtime.outcomes import Outcome
from services.runtime.transfers import TRANSFER_REFUSED_PROMPT, TransferAllowlist, TransferRefused

if TYPE_CHECKING:  # the core stays free of aio-pika; the adapter sets the link
    from opentelemetry.trace import Span

    from services.runtime.broker import LinkState

log = logging.getLogger(__name__)

TIMEOUT_PROMPT = "Sorry, that is taking longer than expected. Please try again."
BUSY_PROMPT = "Sorry, we are very busy right now. Please press that key again in a moment."


class EdgeBusy(RuntimeError):
    """The press was shed, not published: too many presses wait for replies. The caller has
    been told to try again."""


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
        # A caller must never be left in silence: past this, the edge says something itself.
        # It also bounds how long a press is remembered (see _expire).
        self._reply_timeout_s = reply_timeout_s
        self._timeout_prompt = timeout_prompt
        # Outside a gather, does a press cut the agent's speech short? (Inside: Gather.barge_in.)
        self._barge_in = barge_in
        # Overloaded, an edge that keeps publishing gets every answer late: past the reply
        # timeout, nobody is answered. Shedding keeps the presses it lets in answered in time.
        self._max_unanswered = max_unanswered
        self._busy_prompt = busy_prompt
        # A transfer reaches outside the call: only where the operator allowed (none: nowhere).
        self._transfer_allow = transfer_allow or TransferAllowlist()
        self._unanswered = 0
        self._shedding = False
        self.metrics.unanswered.set_function(lambda: float(self._unanswered))
        self._applied = self.metrics.replies_applied.labels("applied")
        self._not_live = self.metrics.replies_applied.labels("call_not_live")
        self._duplicate = self.metrics.replies_applied.labels("duplicate")
        self._superseded = self.metrics.replies_applied.labels("superseded")
        for reason in SEND_DIGITS_REFUSALS:  # zeros from the start, for rate() and alerts
            self.metrics.actions_refused.labels("send_digits", reason)

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
    ) -> KeyPress:
        """Normalize and publish one press; raises contracts.InvalidKey for a bad key, and
        EdgeBusy when it sheds the press (not during a gather: those presses are an input).
        `source` names where the press came from when not the call's source (``inband``)."""
        if call.gather is None:
            self._admit(call)
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
        shown = MASKED_KEY if sensitive else event.key  # a secret digit is no metric label
        self.metrics.presses_received.labels(shown, event.source).inc()
        if gathering is None:
            span = tracing.begin(event)  # the press's trace, to its reply
            self._await_reply(call, event.event_id, received, event.sequence, span)
            if self._barge_in:
                await call.session.interrupt()
        else:
            tracing.carry(event.event_id, call.gather_trace)  # collected: in the gather's trace
        await self._publisher.publish(event)
        log.debug("call %s pressed %s (#%d)", call.call_id, shown, event.sequence)
        if gathering is not None:
            await self._collect(call, gathering, event)
        return event

    def _admit(self, call: Call) -> None:
        """Let a press through, or shed it: raise EdgeBusy once the caller is told busy."""
        if not self._max_unanswered or self._unanswered < self._max_unanswered:
            if self._shedding:
                self._shedding = False
                log.warning("edge %s: no longer shedding presses", self.edge_id)
            return
        if not self._shedding:
            self._shedding = True
            log.warning(
                "edge %s: %d presses wait for replies; shedding new presses (busy prompt)",
                self.edge_id,
                self._unanswered,
            )
        self.metrics.presses_shed.inc()
        task = asyncio.get_running_loop().create_task(call.session.say(self._busy_prompt))
        task.add_done_callback(_log_failure)
        raise EdgeBusy(f"{self._unanswered} presses wait for replies on edge {self.edge_id}")

    def _await_reply(
        self, call: Call, event_id: str, received: float, sequence: int, span: Span | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        pending = PendingPress(received, loop.create_future(), sequence, span=span)
        pending.timer = loop.call_later(self._reply_timeout_s, self._expire, call, event_id)
        call.pending[event_id] = pending
        self._unanswered += 1

    def _stop_waiting(self, pending: PendingPress) -> None:
        if pending.waiting:
            pending.waiting = False
            self._unanswered -= 1
            if pending.span is not None:
                replied = pending.answered.done() and pending.answered.result() is not None
                tracing.finish(pending.span, outcome="replied" if replied else "unanswered")

    async def _start_gather(self, call: Call, spec: Gather) -> None:
        if call.gather is not None:
            log.info(
                "call %s: gather %s replaced by %s", call.call_id, call.gather.spec.name, spec.name
            )
            call.gather.stop()
        gathering = call.gather = Gathering(spec)
        call.gather_trace = tracing.current_carrier()  # this reply's: its input joins the trace
        if spec.prompt:
            await call.session.say(spec.prompt)  # presses meanwhile are collected already
        if gathering.done or call.ended:
            return
        # The clocks start once the prompt is out, as on common IVR platforms.
        self._restart_timer(call, gathering, "overall", spec.timeout_s)
        self._restart_timer(call, gathering, "inter_digit", spec.inter_digit_timeout_s)

    def _restart_timer(self, call: Call, gathering: Gathering, which: str, delay: float) -> None:
        if (old := gathering.timers.pop(which, None)) is not None:
            old.cancel()
        gathering.timers[which] = asyncio.get_running_loop().call_later(
            delay, self._gather_timed_out, call, gathering, which
        )

    def _gather_timed_out(self, call: Call, gathering: Gathering, which: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._finish_gather(call, gathering, gathering.timed_out(which))
        )
        task.add_done_callback(_log_failure)

    async def _collect(self, call: Call, gathering: Gathering, press: KeyPress) -> None:
        if gathering.spec.barge_in and not gathering.interrupted:
            gathering.interrupted = True
            await call.session.interrupt()
        reason = gathering.feed(press.key)
        if reason is not None:
            await self._finish_gather(call, gathering, reason, completed_by=press.event_id)
        elif not gathering.done and "overall" in gathering.timers:
            self._restart_timer(
                call, gathering, "inter_digit", gathering.spec.inter_digit_timeout_s
            )

    async def _finish_gather(
        self, call: Call, gathering: Gathering, reason: GatherEnd, *, completed_by: str = ""
    ) -> None:
        if gathering.done or call.ended:
            return
        gathering.stop()
        if call.gather is gathering:
            call.gather = None
        event = GatheredInput(
            call_id=call.call_id,
            reply_to=self.edge_id,
            source=call.source,
            name=gathering.spec.name,
            digits="".join(gathering.digits),
            reason=reason,
            sequence=max(call.presses, 1),
            started_at=gathering.started_at,
            sensitive=gathering.spec.sensitive,
        )
        span = tracing.begin(event, parent=call.gather_trace)
        self._await_reply(call, event.event_id, time.perf_counter(), event.sequence, span)
        if completed_by:
            call.completed_by[completed_by] = event.event_id
        log.info("call %s: input %s ended (%s)", call.call_id, event.name, reason)
        await self._publisher.publish(event)

    async def end_call(self, call: Call, *, reason: str = "hangup") -> None:
        if self.calls.remove(call.call_id) is None:
            return
        call.ended = True
        if call.gather is not None:
            call.gather.stop()  # a call ending mid-gather publishes no input
            call.gather = None
        for pending in call.pending.values():
            pending.settle()
            if not pending.answered.done():
                pending.answered.set_result(None)
            self._stop_waiting(pending)
        call.pending.clear()
        await self._publisher.publish(
            CallEnded(
                call_id=call.call_id, reply_to=self.edge_id, source=call.source, reason=reason
            )
        )
        log.info("call %s ended (%s)", call.call_id, reason)

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
        answer = (reply.in_reply_to, reply.service)
        if answer in call.applied:
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
        if reply.sequence is not None:
            call.last_applied_sequence = reply.sequence
        call.remember_applied(answer, reply.sequence)
        pending = call.pending.get(reply.in_reply_to)
        for action in reply.actions:
            match action:
                case Say(text=text):
                    await call.session.say(text)
                case SetInstructions(instructions=instructions):
                    await call.session.set_instructions(instructions)
                case Transfer(to=to):
                    if not await self._transfer(call, to, service=reply.service):
                        break  # the rest of the reply counted on the transfer
                case Hangup(reason=reason):
                    await call.session.hangup(reason)
                    await self.end_call(call, reason=reason)
                case Gather():
                    await self._start_gather(call, action)
                case SendDigits():
                    if not await self._send_digits(call, action, service=reply.service):
                        break  # what follows counted on the far end having heard the digits
        self._applied.inc()
        if pending is not None and not pending.answered.done():
            self.metrics.press_to_reply.observe(
                time.perf_counter() - pending.received, tracing.exemplar(pending.span)
            )
            pending.answered.set_result(reply)
            self._stop_waiting(pending)
        if reply.sequence is not None:
            self._settle_older(call, reply.sequence)
        return Outcome.REPLIED

    async def _transfer(self, call: Call, to: str, *, service: str) -> bool:
        """Transfer the call if the allowlist permits `to`; else apologise. Whether it did."""
        try:
            target = self._transfer_allow.permit(to)
        except TransferRefused as why:
            self.metrics.transfers_refused.labels(service).inc()
            log.warning(
                "call %s: transfer asked by service %r refused: %s", call.call_id, service, why
            )
            await call.session.say(TRANSFER_REFUSED_PROMPT)
            return False
        await call.session.transfer(target)
        return True

    async def _send_digits(self, call: Call, action: SendDigits, *, service: str) -> bool:
        """Play the tones, or refuse them (logged; no crash, no tones). Whether they played.
        The digits are never logged: they can be a PIN typed into a bank's menu."""
        refusal = send_digits_refusal(call)
        if refusal is not None:
            reason, why = refusal
            self.metrics.actions_refused.labels("send_digits", reason).inc()
            log.warning(
                "call %s: send_digits (%d characters) from service %r refused: %s",
                call.call_id,
                len(action.digits),
                service,
                why,
            )
            return False
        assert isinstance(call.session, DigitSender)  # send_digits_refusal checked it
        await call.session.send_digits(action.digits, tone_ms=action.tone_ms, gap_ms=action.gap_ms)
        return True

    def _settle_older(self, call: Call, sequence: int) -> None:
        """The caller has an answer to a newer press: older ones wait for nothing any more.
        Their late replies are dropped as superseded, and no timeout prompt follows them
        (nor do they count as unanswered towards load shedding)."""
        for event_id, pending in list(call.pending.items()):
            if pending.sequence < sequence and not pending.answered.done():
                pending.settle()
                pending.answered.set_result(None)
                self._stop_waiting(pending)
                del call.pending[event_id]

    def _expire(self, call: Call, event_id: str) -> None:
        """The reply timeout of one press: forget it, and if it went unanswered say so."""
        pending = call.pending.pop(event_id, None)
        if pending is None or pending.answered.done() or call.ended:
            return
        logs.bind(call_id=call.call_id, event_id=event_id)  # a timer runs in a context copy
        tracing.failed(pending.span, "no reply within the reply timeout")
        self._stop_waiting(pending)
        pending.answered.set_result(None)
        self.metrics.reply_timeouts.inc()
        log.warning(
            "call %s: no reply to press %s in time; telling the caller", call.call_id, event_id
        )
        task = asyncio.get_running_loop().create_task(call.session.say(self._timeout_prompt))
        task.add_done_callback(_log_failure)

    def answered_by(self, call: Call, press: KeyPress) -> str | None:
        """The event whose reply answers this press: itself, the gathered input it completed,
        or None for a press a gather only collected."""
        if press.event_id in call.completed_by:
            return call.completed_by[press.event_id]
        return None if press.collecting else press.event_id

    async def wait_for_reply(self, call: Call, event: KeyPress, *, timeout: float) -> Reply | None:
        """The first reply applied for this press; None if none came within `timeout`, or
        the caller heard the timeout prompt, or a newer press was answered first."""
        target = self.answered_by(call, event)
        pending = call.pending.get(target) if target else None
        if pending is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(pending.answered), timeout)
        except TimeoutError:
            return None


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("timer action failed", exc_info=task.exception())
