"""A published press and the way to its reply, for a source that waits for the answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts.events import KeyPress
    from contracts.replies import Reply
    from services.edge.calls import Call


@dataclass(frozen=True)
class PressHandle:
    """What `Edge.press` hands back: the published press, and a wait for its reply."""

    event: KeyPress
    # The event whose reply answers the press: itself, the gathered input it completed, or
    # None for a press a gather only collected (its answer comes with the input's).
    answered_by: str | None
    # Taken when the handle is made: it outlives the press's entry in call.pending.
    _answered: asyncio.Future[Reply | None] | None = field(default=None, repr=False)

    async def reply(self, *, timeout: float) -> Reply | None:
        """The first reply applied for the press; None if none came within `timeout`, or
        the caller heard the timeout prompt, or a newer press was answered first, or the
        call ended. Once settled, asking again gives the same answer."""
        if self._answered is None:
            return None
        try:
            # Shielded: a waiter giving up must not cancel the answer for the edge.
            return await asyncio.wait_for(asyncio.shield(self._answered), timeout)
        except TimeoutError:
            return None


def answered_by(call: Call, press: KeyPress) -> str | None:
    """The event whose reply answers this press (see PressHandle.answered_by)."""
    if press.event_id in call.completed_by:
        return call.completed_by[press.event_id]
    return None if press.collecting else press.event_id


def handle_for(call: Call, press: KeyPress) -> PressHandle:
    """The handle of a press, as the call stands now: a press no longer remembered (past
    its reply timeout, or settled) gets a handle whose reply is None."""
    target = answered_by(call, press)
    pending = call.pending.get(target) if target else None
    return PressHandle(press, target, pending.answered if pending is not None else None)
