"""Presses (and gathered inputs) waiting for their reply, each until its reply timeout.

A caller must never be left in silence: past the timeout the edge says something itself.
The timeout also bounds how long a press is remembered. How many wait right now is what
load shedding (services.edge.admission) bounds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from services.edge.calls import PendingPress
from services.edge.tasks import spawn
from services.runtime import logs, tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from contracts.replies import Reply
    from services.edge.calls import Call
    from services.runtime.metrics import Metrics

log = logging.getLogger(__name__)

TIMEOUT_PROMPT = "Sorry, that is taking longer than expected. Please try again."


class PendingReplies:
    def __init__(self, metrics: Metrics, *, reply_timeout_s: float, timeout_prompt: str) -> None:
        self._metrics = metrics
        self._reply_timeout_s = reply_timeout_s
        self._timeout_prompt = timeout_prompt
        self.unanswered = 0  # no reply, no timeout, call not ended yet
        metrics.unanswered.set_function(lambda: float(self.unanswered))

    def wait(
        self, call: Call, event_id: str, received: float, sequence: int, span: Span | None = None
    ) -> None:
        """Remember an event published for a reply, and start its reply timeout."""
        loop = asyncio.get_running_loop()
        pending = PendingPress(event_id, received, loop.create_future(), sequence, span=span)
        pending.timer = loop.call_later(self._reply_timeout_s, self._expire, call, event_id)
        call.pending[event_id] = pending
        call.waiting[event_id] = pending
        self.unanswered += 1

    def answered(self, call: Call, pending: PendingPress | None, reply: Reply) -> None:
        """The reply was applied: it is the first answer to `pending`, unless it has one."""
        if pending is None or pending.answered.done():
            return
        self._metrics.press_to_reply.observe(
            time.perf_counter() - pending.received, tracing.exemplar(pending.span)
        )
        pending.answered.set_result(reply)
        self._stop_waiting(call, pending)

    def settle_older(self, call: Call, sequence: int) -> None:
        """The caller has an answer to a newer press: older ones wait for nothing any more.
        Their late replies are dropped as superseded, and no timeout prompt follows them
        (nor do they count as unanswered towards load shedding)."""
        for pending in [p for p in call.waiting.values() if p.sequence < sequence]:
            pending.settle()
            pending.answered.set_result(None)
            self._stop_waiting(call, pending)
            call.pending.pop(pending.event_id, None)

    def settle_all(self, call: Call) -> None:
        """The call ended: nothing of it waits any more, and no timeout prompt follows."""
        for pending in call.pending.values():
            pending.settle()
            if not pending.answered.done():
                pending.answered.set_result(None)
            self._stop_waiting(call, pending)
        call.pending.clear()

    def _stop_waiting(self, call: Call, pending: PendingPress) -> None:
        if call.waiting.pop(pending.event_id, None) is None:
            return
        self.unanswered -= 1
        if pending.span is not None:
            replied = pending.answered.done() and pending.answered.result() is not None
            tracing.finish(pending.span, outcome="replied" if replied else "unanswered")

    def _expire(self, call: Call, event_id: str) -> None:
        """The reply timeout of one press: forget it, and if it went unanswered say so."""
        pending = call.pending.pop(event_id, None)
        if pending is None or pending.answered.done() or call.ended:
            return
        logs.bind(call_id=call.call_id, event_id=event_id)  # a timer runs in a context copy
        tracing.failed(pending.span, "no reply within the reply timeout")
        self._stop_waiting(call, pending)
        pending.answered.set_result(None)
        self._metrics.reply_timeouts.inc()
        log.warning(
            "call %s: no reply to press %s in time; telling the caller", call.call_id, event_id
        )
        spawn(call.session.say(self._timeout_prompt))
