"""Collecting digits on one call: the state of a `Gather` between its start and its end."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from contracts.base import utcnow
from contracts.events import GatherEnd
from contracts.replies import Gather

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
