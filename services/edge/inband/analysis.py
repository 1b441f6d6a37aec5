"""`WindowAnalyzer`: which key, if any, each analysis window of 8 kHz audio holds.

Windows of 102 samples (12.75 ms) every 51 samples. 102 puts the rectangular window's first
null one bin (78 Hz) away, about where the neighbouring row or column frequency lies, so the
peak-dominance check separates them. Per window, for each of the 8 frequencies:

- power with a rectangular window (Goertzel, evaluated for all windows at once as a DFT),
  for peak dominance and the energy share,
- the Hann-windowed DFT, for level and twist; its phase advance from the previous window is
  the tone's offset from nominal (a pulse-pair estimate): exact for a steady tone, and
  unambiguous to +-78 Hz with the 51-sample hop. The magnitude alone cannot reject +3.5%
  at 697 Hz (24 Hz off is still inside the main lobe); the phase can.

A window holds a key when all of these hold (thresholds in `Thresholds`):
level, twist (normal/reverse), peak dominance in both groups, the two tones carrying most of
the window's energy (speech and music spread theirs), no second harmonic of the column tone
(voiced speech has one), and both frequencies within the accepted deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.edge.inband.tones import COLUMNS_HZ, ROWS_HZ, dbm0_power

RATE = 8000
WINDOW = 102
HOP = 51
NO_KEY = -1  # in a window's result: no key


def _db(ratio_db: float) -> float:
    return float(10 ** (ratio_db / 10))


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    min_level_dbm0: float = -33.0  # per tone; Q.24 asks for operation down to about -26
    normal_twist_db: float = 8.5  # column louder than row; Q.24: accept up to 8 dB
    reverse_twist_db: float = 4.5  # row louder than column; Q.24: accept up to 4 dB
    dominance_db: float = 8.0  # the peak over every other frequency of its group
    tone_energy_share: float = 0.7  # row + column power over the window's power
    harmonic_db: float = 12.0  # the column's 2nd harmonic at least this far below it
    max_deviation: float = 0.025  # between Q.24's accept (1.5%) and reject (3.5%)


def _basis() -> npt.NDArray[np.complex128]:
    n = np.arange(WINDOW)
    nominal = np.array(ROWS_HZ + COLUMNS_HZ)
    harmonics = 2 * np.array(COLUMNS_HZ)
    rect = np.exp(-2j * np.pi * np.outer(n, np.concatenate((nominal, harmonics))) / RATE)
    hann = np.hanning(WINDOW)[:, None] * rect[:, :8]
    return np.concatenate((rect, hann), axis=1)


class WindowAnalyzer:
    """Classifies windows of 8 kHz audio; keeps the last window's phases between calls."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        t = thresholds or Thresholds()
        self.thresholds = t
        self._basis = _basis()
        self._hann_sum = float(np.hanning(WINDOW).sum())
        self._min_power = dbm0_power(t.min_level_dbm0)
        self._normal_twist = _db(t.normal_twist_db)
        self._reverse_twist = _db(t.reverse_twist_db)
        self._dominance = _db(t.dominance_db)
        self._harmonic = _db(-t.harmonic_db)
        nominal = np.array(ROWS_HZ + COLUMNS_HZ)
        # Pulse pair: a tone at nominal advances exactly this much from window to window.
        self._nominal_turn = np.exp(-2j * np.pi * nominal * HOP / RATE)
        self._max_turn = 2 * np.pi * t.max_deviation * nominal * HOP / RATE
        self._previous: npt.NDArray[np.complex128] = np.zeros(8, dtype=np.complex128)

    def classify(self, windows: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Key index (row * 4 + column) per window (rows of `windows`), or NO_KEY."""
        keys = np.full(len(windows), NO_KEY, dtype=np.int64)
        total = np.einsum("ij,ij->i", windows, windows) / WINDOW
        # Most of a call is quiet or the agent talking: skip the spectra when no window has
        # the power to hold a tone (a Hann bin reads at most 3x the window's mean power).
        if not len(windows) or total.max() * 3 < self._min_power:
            self._previous[:] = 0  # a quiet window's phase says nothing about the next
            return keys
        spectra = windows @ self._basis
        power = spectra.real**2 + spectra.imag**2
        rect = power[:, :12] * (2 / WINDOW**2)  # a sine's mean power
        level = power[:, 12:] * (2 / self._hann_sum**2)
        # Level and twist from the Hann bins: the rectangular window's sidelobes let one
        # group's tone leak +-1.5 dB into the other's bin at 8 dB twist; Hann's do not.
        hann = spectra[:, 12:]
        previous = np.vstack((self._previous, hann[:-1]))
        self._previous = hann[-1].copy()
        rows, columns = rect[:, :4], rect[:, 4:8]
        # Speech and music fail the energy share first: test it before the other checks.
        share = self.thresholds.tone_energy_share * total
        if not (rows.max(axis=1) + columns.max(axis=1) >= share).any():
            return keys
        r = rows.argmax(axis=1)
        c = columns.argmax(axis=1)
        at = np.arange(len(windows))
        row_p, col_p = rows[at, r], columns[at, c]
        row_level, col_level = level[at, r], level[at, 4 + c]
        ok = (row_level >= self._min_power) & (col_level >= self._min_power)
        ok &= col_level <= row_level * self._normal_twist
        ok &= row_level <= col_level * self._reverse_twist
        ok &= _dominant(rows, r, row_p, self._dominance)
        ok &= _dominant(columns, c, col_p, self._dominance)
        ok &= row_p + col_p >= share
        ok &= rect[at, 8 + c] <= col_p * self._harmonic
        turn = np.angle(hann * np.conj(previous) * self._nominal_turn)
        ok &= np.abs(turn[at, r]) <= self._max_turn[r]
        ok &= np.abs(turn[at, 4 + c]) <= self._max_turn[4 + c]
        keys[ok] = (r * 4 + c)[ok]
        return keys

    def reset(self) -> None:
        self._previous[:] = 0


def _dominant(
    group: npt.NDArray[np.float64],
    peak: npt.NDArray[np.int64],
    peak_p: npt.NDArray[np.float64],
    ratio: float,
) -> npt.NDArray[np.bool_]:
    others = group.copy()
    others[np.arange(len(group)), peak] = 0
    return np.asarray(peak_p >= ratio * others.max(axis=1))
