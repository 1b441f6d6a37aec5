"""Collecting digits on one call: a `Gather`'s state, its clocks, and the input it publishes.

`Gathering` is the state between a gather's start and its end; `Gathers` runs it for the
edge: the prompt, the overall and inter-digit timers, and the `GatheredInput` at the end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from contracts.base import utcnow
from contracts.events import AnyEvent, GatheredInput, GatherEnd, KeyPress
from contracts.replies import Gather
from services.edge.tasks import spawn
from services.runtime import tracing

if TYPE_CHECKING:
    from services.edge.calls import Call
    from services.edge.pending import PendingReplies

log = logging.getLogger(__name__)

# Stands for a key a sensitive gather collected, in the edge's logs and metric labels.
MASKED_KEY = "masked"


@dataclass
class Gathering:
    spec: Gather
    started_at: datetime = field(default_factory=utcnow)
    digits: list[str] = field(default_factory=list)
    interrupted: bool = False  # barge-in happens once, on the first press
    done: bool = False
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    def feed(self, key: str) -> GatherEnd | None:
        """Take one press; the reason collecting ends with it, or None to go on."""
        if self.spec.finish_key is not None and key == self.spec.finish_key:
            return "finish_key"
        self.digits.append(key)
        if len(self.digits) >= self.spec.max_digits:
            return "max_digits"
        return None

    def timed_out(self, which: str) -> GatherEnd:
        """Why a timer ending the gather ended it."""
        if not self.digits:
            return "no_input"
        return "inter_digit_timeout" if which == "inter_digit" else "timeout"

    def stop(self) -> None:
        self.done = True
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()


class Gathers:
    """The gathers of an edge's calls, one at most per call (`call.gather`)."""

    def __init__(
        self,
        *,
        edge_id: str,
        publish: Callable[[AnyEvent], Awaitable[None]],
        pending: PendingReplies,
    ) -> None:
        self._edge_id = edge_id
        self._publish = publish
        self._pending = pending  # the input waits for its reply as a press does

    async def start(self, call: Call, spec: Gather) -> None:
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

    async def collect(self, call: Call, gathering: Gathering, press: KeyPress) -> None:
        """Take a published press into the gather; the last one publishes the input."""
        if gathering.spec.barge_in and not gathering.interrupted:
            gathering.interrupted = True
            await call.session.interrupt()
        reason = gathering.feed(press.key)
        if reason is not None:
            await self._finish(call, gathering, reason, completed_by=press.event_id)
        elif not gathering.done and "overall" in gathering.timers:
            self._restart_timer(
                call, gathering, "inter_digit", gathering.spec.inter_digit_timeout_s
            )

    def stop(self, call: Call) -> None:
        """The call ended: a gather under way publishes no input."""
        if call.gather is not None:
            call.gather.stop()
            call.gather = None

    def _restart_timer(self, call: Call, gathering: Gathering, which: str, delay: float) -> None:
        if (old := gathering.timers.pop(which, None)) is not None:
            old.cancel()
        gathering.timers[which] = asyncio.get_running_loop().call_later(
            delay, self._timed_out, call, gathering, which
        )

    def _timed_out(self, call: Call, gathering: Gathering, which: str) -> None:
        spawn(self._finish(call, gathering, gathering.timed_out(which)))

    async def _finish(
        self, call: Call, gathering: Gathering, reason: GatherEnd, *, completed_by: str = ""
    ) -> None:
        if gathering.done or call.ended:
            return
        gathering.stop()
        if call.gather is gathering:
            call.gather = None
        event = GatheredInput(
            call_id=call.call_id,
            reply_to=self._edge_id,
            source=call.source,
            name=gathering.spec.name,
            digits="".join(gathering.digits),
            reason=reason,
            sequence=max(call.presses, 1),
            started_at=gathering.started_at,
            sensitive=gathering.spec.sensitive,
        )
        span = tracing.begin(event, parent=call.gather_trace)
        self._pending.wait(call, event.event_id, time.perf_counter(), event.sequence, span)
        if completed_by:
            call.completed_by[completed_by] = event.event_id
        log.info("call %s: input %s ended (%s)", call.call_id, event.name, reason)
        await self._publish(event)
