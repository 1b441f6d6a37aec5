"""The DTMF keypad's frequencies and the level convention the detector and tests share.

Level convention (G.711): a full-scale 16-bit sine is +3.17 dBm0, so a 0 dBm0 sine has a
peak of 32768 * 10**(-3.17/20) ~= 22,700 and a mean power of that squared over two.
Levels are per tone: "-26 dBm0" means each of the two sines is at -26 dBm0.
"""

from __future__ import annotations

import math

ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
COLUMNS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
DIGITS = "".join(KEYPAD)

FULL_SCALE = 32768.0
DBM0_FULL_SCALE = 3.17  # a full-scale sine is +3.17 dBm0 (G.711 mu-law convention)


def frequencies(digit: str) -> tuple[float, float]:
    """The (row, column) frequencies of a key: "5" -> (770.0, 1336.0)."""
    for row, keys in enumerate(KEYPAD):
        column = keys.find(digit.upper())
        if column >= 0:
            return ROWS_HZ[row], COLUMNS_HZ[column]
    raise ValueError(f"{digit!r} is not a DTMF key")


def digit_at(row: int, column: int) -> str:
    return KEYPAD[row][column]


def dbm0_amplitude(level_dbm0: float) -> float:
    """Peak amplitude (16-bit PCM units) of a sine at `level_dbm0`."""
    return FULL_SCALE * 10 ** ((level_dbm0 - DBM0_FULL_SCALE) / 20)


def dbm0_power(level_dbm0: float) -> float:
    """Mean power (16-bit PCM units squared) of a sine at `level_dbm0`."""
    return dbm0_amplitude(level_dbm0) ** 2 / 2


def power_dbm0(power: float) -> float:
    """The level in dBm0 of a sine whose mean power is `power`."""
    return 10 * math.log10(max(power, 1e-12) / dbm0_power(0.0))
