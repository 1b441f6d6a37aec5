"""Load shedding at the edge: a press is let in only while few presses wait for replies.

Overloaded, an edge that keeps publishing gets every answer late: past the reply timeout,
nobody is answered. Shedding keeps the presses it lets in answered in time; the caller of
a shed press hears the busy prompt instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from services.edge.tasks import spawn

if TYPE_CHECKING:
    from services.edge.calls import Call
    from services.runtime.metrics import Metrics

log = logging.getLogger(__name__)

BUSY_PROMPT = "Sorry, we are very busy right now. Please press that key again in a moment."


class EdgeBusy(RuntimeError):
    """The press was shed, not published: too many presses wait for replies. The caller has
    been told to try again."""


class Admission:
    def __init__(
        self, *, edge_id: str, metrics: Metrics, max_unanswered: int, busy_prompt: str
    ) -> None:
        self._edge_id = edge_id
        self._shed = metrics.presses_shed
        self._max_unanswered = max_unanswered  # 0: never shed
        self._busy_prompt = busy_prompt
        self._shedding = False  # to log the start and the end of shedding, once each

    def admit(self, call: Call, unanswered: int) -> None:
        """Let a press through, or shed it: raise EdgeBusy once the caller is told busy.
        `unanswered`: how many presses of this edge wait for their reply now."""
        if not self._max_unanswered or unanswered < self._max_unanswered:
            if self._shedding:
                self._shedding = False
                log.warning("edge %s: no longer shedding presses", self._edge_id)
            return
        if not self._shedding:
            self._shedding = True
            log.warning(
                "edge %s: %d presses wait for replies; shedding new presses (busy prompt)",
                self._edge_id,
                unanswered,
            )
        self._shed.inc()
        spawn(call.session.say(self._busy_prompt))
        raise EdgeBusy(f"{unanswered} presses wait for replies on edge {self._edge_id}")
