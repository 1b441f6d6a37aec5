"""Live calls held by this edge instance, and the session interface replies act on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from contracts.replies import Reply
    from services.edge.gather import Gathering

from contracts.base import utcnow


class CallSession(Protocol):
    """What a reply can do to a call. VideoSDK and the simulator each implement it."""

    async def say(self, text: str) -> None: ...

    async def set_instructions(self, instructions: str) -> None: ...

    async def transfer(self, to: str) -> None: ...

    async def hangup(self, reason: str) -> None: ...

    async def interrupt(self) -> None:
        """Stop speaking now (barge-in): the caller pressed a key."""


@runtime_checkable
class DigitSender(Protocol):
    """A session that can play DTMF tones into the call (a `SendDigits` action). Optional:
    one that plays no audio (a test double, a text-only source) has sends refused instead."""

    async def send_digits(self, digits: str, *, tone_ms: int, gap_ms: int) -> None:
        """Play the tones (`w`: a pause) and return once the caller's side has heard them."""


# Why a `SendDigits` is refused, as `dtmf_actions_refused_total`'s reason label.
SEND_DIGITS_REFUSALS = ("collecting_input", "no_audio")


def send_digits_refusal(call: Call) -> tuple[str, str] | None:
    """Why a `SendDigits` can't play on this call now, as a metric label and words for the
    log, or None if it can."""
    if call.gather is not None:
        # The caller is keying in: tones now would talk over the input, and any echo of
        # them could be collected as the caller's own presses.
        return "collecting_input", f"the call is collecting input {call.gather.spec.name!r}"
    if not isinstance(call.session, DigitSender):
        return "no_audio", f"a {call.source} call session plays no tones"
    return None


# Replies remembered per call before the ones to older presses are pruned.
APPLIED_KEPT = 32


@dataclass
class PendingPress:
    """A press, remembered until its reply timeout to match its first reply."""

    event_id: str
    received: float  # time.perf_counter() when the edge got it
    # Its first reply; None once the caller was told it timed out, or a newer press was
    # answered first.
    answered: asyncio.Future[Reply | None]
    sequence: int  # of the press (or the call's latest, for a gathered input)
    timer: asyncio.TimerHandle | None = None
    span: Span | None = None  # from the press to its reply, when tracing is on

    def settle(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


@dataclass
class Call:
    call_id: str
    source: str
    session: CallSession
    started_at: datetime = field(default_factory=utcnow)
    presses: int = 0
    ended: bool = False
    # event id -> the press until its first reply is applied (or it times out)
    pending: dict[str, PendingPress] = field(default_factory=dict)
    # Those of `pending` with no answer yet (no reply, no timeout): what a newer press's
    # answer settles. Apart, so that settling does not walk the answered ones a fast caller
    # leaves in `pending` until their timeouts.
    waiting: dict[str, PendingPress] = field(default_factory=dict)
    # (event id, service) of replies applied -> the sequence they answered: a press
    # redelivered to another replica of a service must not make the agent say the same thing
    # twice. Pruned as the call goes on (see remember_applied): a long call must not grow it.
    applied: dict[tuple[str, str], int] = field(default_factory=dict)
    # Replies are applied one at a time per call, and never one older than the last applied.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_applied_sequence: int = 0
    gather: Gathering | None = None
    # The trace context of the reply that started the gather: its presses and input join it.
    gather_trace: dict[str, str] | None = None
    # press event id -> the gathered input it completed, whose reply answers that press
    completed_by: dict[str, str] = field(default_factory=dict)

    def next_sequence(self) -> int:
        self.presses += 1
        return self.presses

    def remember_applied(self, answer: tuple[str, str], sequence: int | None) -> None:
        """Remember an applied reply. Past a few, those to presses older than the last one
        answered are forgotten: a late copy of one is dropped as superseded anyway."""
        self.applied[answer] = sequence or 0
        if len(self.applied) > APPLIED_KEPT:
            latest = self.last_applied_sequence
            self.applied = {a: n for a, n in self.applied.items() if n >= latest}


class CallRegistry:
    """call id -> live call. Replies for a call not here are dropped (it ended or is elsewhere)."""

    def __init__(self) -> None:
        self._calls: dict[str, Call] = {}

    def add(self, call: Call) -> None:
        if call.call_id in self._calls:
            raise ValueError(f"call {call.call_id!r} is already live on this edge")
        self._calls[call.call_id] = call

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def remove(self, call_id: str) -> Call | None:
        return self._calls.pop(call_id, None)

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self._calls.values()))
