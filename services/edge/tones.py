"""Outbound DTMF: a `send_digits` string as 16-bit PCM tones, for the agent to play.

Pure numpy, no broker and no VideoSDK: the VideoSDK adapter (`videosdk.digits`) feeds the
result to the agent's audio output, the simulator only prints the digits.

Each key is its row and column sines for `tone_ms`, then `gap_ms` of silence; `w` adds a
`PAUSE_MS` pause. Levels are those of a telephone set: -8 dBm0 for the row tone and -6 dBm0
for the column tone (2 dB of twist towards the high group, which a line attenuates more),
well inside the +-4/8 dB twist and -26 dBm0 floor a Q.24 receiver accepts, and together
below full scale (no clipping). Every tone starts and ends with a short raised-cosine ramp:
a hard edge splatters energy across the band, clicks, and can make a receiver see a
different key for a few milliseconds.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from contracts.replies import PAUSE_DIGIT, PAUSE_MS
from services.edge.inband.tones import dbm0_amplitude, frequencies

ROW_LEVEL_DBM0 = -8.0
COLUMN_LEVEL_DBM0 = -6.0
RAMP_MS = 2.0
DEFAULT_TONE_MS = 100
DEFAULT_GAP_MS = 100

Pcm = npt.NDArray[np.int16]


def _samples(ms: float, sample_rate: int) -> int:
    return round(ms * sample_rate / 1000)


def tone(digit: str, *, sample_rate: int, tone_ms: float) -> Pcm:
    """One key's dual tone, ramped in and out."""
    n = _samples(tone_ms, sample_rate)
    t = np.arange(n) / sample_rate
    row, column = frequencies(digit)
    x = dbm0_amplitude(ROW_LEVEL_DBM0) * np.sin(2 * np.pi * row * t)
    x += dbm0_amplitude(COLUMN_LEVEL_DBM0) * np.sin(2 * np.pi * column * t)
    ramp = min(_samples(RAMP_MS, sample_rate), n // 2)
    if ramp:
        edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        x[:ramp] *= edge
        x[n - ramp :] *= edge[::-1]
    return np.round(x).astype(np.int16)


def dtmf_pcm(
    digits: str,
    *,
    sample_rate: int,
    tone_ms: float = DEFAULT_TONE_MS,
    gap_ms: float = DEFAULT_GAP_MS,
    pause_ms: float = PAUSE_MS,
) -> Pcm:
    """The tones for `digits` (keys 0-9 * # A-D, `w` a pause), mono, at `sample_rate`.
    Raises ValueError naming a character that is neither a key nor `w`."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    gap = np.zeros(_samples(gap_ms, sample_rate), dtype=np.int16)
    pause = np.zeros(_samples(pause_ms, sample_rate), dtype=np.int16)
    parts: list[Pcm] = [np.zeros(0, dtype=np.int16)]
    for digit in digits:
        if digit == PAUSE_DIGIT:
            parts.append(pause)
        else:
            parts += [tone(digit, sample_rate=sample_rate, tone_ms=tone_ms), gap]
    return np.concatenate(parts)


def dtmf_bytes(digits: str, *, sample_rate: int, **timing: float) -> bytes:
    """`dtmf_pcm` as 16-bit little-endian bytes, as audio tracks take PCM."""
    return dtmf_pcm(digits, sample_rate=sample_rate, **timing).astype("<i2").tobytes()
