"""`DTMFDetector`: a stream of audio in, one `DetectedPress` per key press out.

The digit state machine over `WindowAnalyzer` windows (51-sample hop, 6.4 ms at 8 kHz):

- a key is confirmed after `MIN_HITS` consecutive windows agree on it: a window only counts
  when at least `tone_energy_share` of it is tone, so 4 windows need about 24 ms of tone.
  A 40 ms tone gives 5 to 6, a 20 ms one at most 3 (Q.24: accept 40 ms, reject 20 ms);
- it is released after `RELEASE_MISSES` windows without it: that takes a pause of about
  25 ms, so a 40 ms pause separates two presses while a 10-20 ms drop-out inside one tone
  (a lost packet, a fade) does not split it;
- the press is reported once, on release, with its duration. Reporting at release rather
  than at confirmation costs ~40 ms after the tone ends but gives the length the event
  carries, and a key held for seconds is still one press. `flush` reports a tone still on
  when the audio ends.

Times are seconds of the input audio since the detector started (`feed` counts samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.edge.inband.analysis import HOP, NO_KEY, WINDOW, Thresholds, WindowAnalyzer
from services.edge.inband.resample import Decimator, frames
from services.edge.inband.tones import DIGITS

MIN_HITS = 4
RELEASE_MISSES = 5


@dataclass(frozen=True, kw_only=True)
class DetectedPress:
    digit: str
    started_s: float  # when the tone began (estimated to about one hop, 6 ms)
    duration_ms: int
    detected_s: float  # the input time at which the detector could report it

    @property
    def ended_s(self) -> float:
        return self.started_s + self.duration_ms / 1000


class DTMFDetector:
    """In-band DTMF for one audio stream (one call). Not thread-safe; one per stream."""

    def __init__(self, *, sample_rate: int, thresholds: Thresholds | None = None) -> None:
        self.sample_rate = sample_rate
        self._decimator = Decimator(rate=sample_rate)
        self._analyzer = WindowAnalyzer(thresholds)
        share = self._analyzer.thresholds.tone_energy_share
        # Windows count from when they are `share` tone: the first starts that much before
        # the tone, the last ends that much after it.
        self._edge_allowance = (2 * share - 1) * WINDOW
        self._buffer: npt.NDArray[np.float64] = np.zeros(0)
        self._base = 0  # 8 kHz index of self._buffer[0]
        self._fed = 0  # input samples so far
        self._claims: list[tuple[int, int]] = []
        self._reset_tone(NO_KEY, 0)

    def _reset_tone(self, key: int, position: int) -> None:
        self._key = key
        self._hits = 0 if key == NO_KEY else 1
        self._first = self._last = position
        self._misses = 0
        self._confirmed = False

    @property
    def tone_on(self) -> bool:
        """A key is confirmed and not yet released."""
        return self._confirmed

    def feed(self, samples: npt.ArrayLike) -> list[DetectedPress]:
        """Mono samples at `sample_rate` (16-bit PCM scale); the presses that ended in them."""
        x = np.asarray(samples, dtype=np.float64)
        self._fed += len(x)
        self._buffer = np.concatenate((self._buffer, self._decimator.feed(x)))
        count = (len(self._buffer) - WINDOW) // HOP + 1 if len(self._buffer) >= WINDOW else 0
        if count <= 0:
            return []
        windows = frames(self._buffer, length=WINDOW, hop=HOP, count=count)
        keys = self._analyzer.classify(windows)
        presses = [
            press
            for n, key in enumerate(keys.tolist())
            if (press := self._step(key, self._base + n * HOP)) is not None
        ]
        self._buffer = self._buffer[count * HOP :]
        self._base += count * HOP
        return presses

    def flush(self) -> list[DetectedPress]:
        """The audio has ended: report a tone still on."""
        press = self._report() if self._confirmed else None
        self._reset_tone(NO_KEY, self._base)
        return [press] if press else []

    def take_claims(self) -> list[tuple[int, int]]:
        """Input sample ranges [start, end) the detector took for tone since the last call."""
        claims, self._claims = self._claims, []
        return claims

    def _step(self, key: int, position: int) -> DetectedPress | None:
        if key != NO_KEY:
            self._claim(position)
        if key != NO_KEY and key == self._key:
            self._hits += 1
            self._last = position
            self._misses = 0
            self._confirmed = self._confirmed or self._hits >= MIN_HITS
            return None
        if not self._confirmed:
            self._reset_tone(key, position)
            return None
        self._misses += 1
        if self._misses < RELEASE_MISSES:
            return None
        press = self._report(now=position + WINDOW)
        self._reset_tone(key, position)
        return press

    def _report(self, *, now: int | None = None) -> DetectedPress:
        # Window starts fall on a 51-sample grid: a hop (measured) centres the error on zero.
        length = self._last - self._first + self._edge_allowance + HOP
        start = self._first + (WINDOW - self._edge_allowance - HOP) / 2
        factor, delay = self._decimator.factor, self._decimator.delay
        detected = self._fed if now is None else now * factor
        return DetectedPress(
            digit=DIGITS[self._key],
            started_s=(start * factor - delay) / self.sample_rate,
            duration_ms=round(length * 1000 / 8000),
            detected_s=detected / self.sample_rate,
        )

    def _claim(self, position: int) -> None:
        factor, delay = self._decimator.factor, self._decimator.delay
        start, end = position * factor - delay, (position + WINDOW) * factor - delay
        if self._claims and start <= self._claims[-1][1]:
            self._claims[-1] = (self._claims[-1][0], end)
        else:
            self._claims.append((max(start, 0), end))
