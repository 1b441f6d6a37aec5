"""Which key sources a call listens to, and one event per press when it listens to both.

With `SourcePolicy.BOTH` the gateway's PubSub event and the in-band detector usually report
the same press. `PressPairing` pairs them one to one: a report of one source is a duplicate
when an unpaired report of the other source, same key, falls in its time span (widened by
`window_s` for the two paths' different delays). The first report of a press is published
at once (no waiting on the other source) and the second dropped, so two real presses of the
same key stay two: each finds its own partner, oldest first. When one source misses a press
the other's report of it is unpaired and published.

Times are seconds on one monotonic clock: when the edge received a gateway event, and for an
in-band press the tone's start and the moment it was detected.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

DEFAULT_WINDOW_S = 0.5
HISTORY_S = 10.0  # a report older than this pairs with nothing (a key held for seconds)


class SourcePolicy(enum.StrEnum):
    GATEWAY = "gateway"  # VideoSDK's SIP gateway events only (no detector runs)
    INBAND = "inband"  # the detector only; gateway events are ignored
    BOTH = "both"  # both, one event per press

    @property
    def gateway(self) -> bool:
        return self is not SourcePolicy.INBAND

    @property
    def inband(self) -> bool:
        return self is not SourcePolicy.GATEWAY


@dataclass
class _Report:
    key: str
    start: float
    end: float
    paired: bool = field(default=False)


class PressPairing:
    """One call's reports from both sources; `gateway` / `inband` say whether to publish."""

    def __init__(self, *, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.window_s = window_s
        self._gateway: deque[_Report] = deque()
        self._inband: deque[_Report] = deque()
        self.duplicates = 0

    def gateway(self, key: str, *, at: float) -> bool:
        """A gateway event for `key` received at `at`: True to publish it."""
        return self._admit(_Report(key, at, at), mine=self._gateway, theirs=self._inband)

    def inband(self, key: str, *, started: float, at: float) -> bool:
        """An in-band press of `key` whose tone began at `started`, detected at `at`."""
        return self._admit(_Report(key, started, at), mine=self._inband, theirs=self._gateway)

    def _admit(self, report: _Report, *, mine: deque[_Report], theirs: deque[_Report]) -> bool:
        self._forget(before=report.end - HISTORY_S)
        low, high = report.start - self.window_s, report.end + self.window_s
        for other in theirs:  # oldest first
            overlaps = other.start <= high and other.end >= low
            if other.key == report.key and not other.paired and overlaps:
                other.paired = True
                self.duplicates += 1
                return False
        mine.append(report)
        return True

    def _forget(self, *, before: float) -> None:
        for reports in (self._gateway, self._inband):
            while reports and reports[0].end < before:
                reports.popleft()
