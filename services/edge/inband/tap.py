"""`AudioTap`: the caller's audio through the DTMF detector on its way to speech recognition.

Input and output are 16-bit little-endian PCM, channels interleaved, at the stream's rate.
The output is the input one detection window late (12.75 ms, `WINDOW` at 8 kHz), so that a
window the detector claims for a tone can be zeroed before it leaves: speech recognition
never hears the tone. Each output chunk is as long as its input chunk (the delay line starts
full of silence). What can still leak is the tone's first few ms: the part before the first
window that counts (at most 30% of a window) and, above 8 kHz, the resampling filter's delay
(2 ms at 48 kHz).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.edge.inband.analysis import RATE, WINDOW
from services.edge.inband.detector import DetectedPress, DTMFDetector

Pcm = npt.NDArray[np.int16]


class AudioTap:
    """One stream: `process(pcm)` -> (the PCM for speech recognition, presses that ended)."""

    def __init__(self, *, sample_rate: int, channels: int = 1, mute: bool = True) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.detector = DTMFDetector(sample_rate=sample_rate)
        self.mute = mute
        self.delay = WINDOW * sample_rate // RATE  # frames (samples per channel)
        self._held: Pcm = np.zeros((self.delay, channels), dtype=np.int16)
        self._held_from = -self.delay  # input frame index of self._held[0]
        self._fed = 0
        self.muted_frames = 0

    @property
    def audio_time_s(self) -> float:
        """Seconds of audio the tap has taken in."""
        return self._fed / self.sample_rate

    def process(self, pcm: bytes) -> tuple[bytes, list[DetectedPress]]:
        usable = len(pcm) - len(pcm) % (2 * self.channels)
        frames = np.frombuffer(pcm[:usable], dtype="<i2").reshape(-1, self.channels)
        mono = frames.mean(axis=1) if self.channels > 1 else frames[:, 0]
        presses = self.detector.feed(mono)
        self._fed += len(frames)
        self._held = np.concatenate((self._held, frames))
        claims = self.detector.take_claims()
        if self.mute:
            for start, end in claims:
                self._silence(start, end)
        out, self._held = self._held[: len(frames)], self._held[len(frames) :]
        self._held_from += len(frames)
        return out.astype("<i2").tobytes() + pcm[usable:], presses

    def _silence(self, start: int, end: int) -> None:
        lo = max(start - self._held_from, 0)
        hi = min(end - self._held_from, len(self._held))
        if hi > lo:
            if not self._held.flags.writeable:
                self._held = self._held.copy()
            self._held[lo:hi] = 0
            self.muted_frames += hi - lo

    def flush(self) -> list[DetectedPress]:
        return self.detector.flush()
