"""Measure the in-band DTMF detector against ITU-T Q.24 and print a Markdown table.

    PYTHONPATH=. .venv/bin/python scripts/inband_evidence.py      (needs `make audio-tools`)

The tests (tests/unit/test_inband_detector.py) assert the Q.24 bounds; this finds where the
detector's edges actually lie, its talk-off over the test corpus, its CPU per call and its
latency from tone end to detection. Not run by `make test`.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from services.edge.inband.analysis import Thresholds
from services.edge.inband.detector import DTMFDetector
from services.edge.inband.tones import COLUMNS_HZ, DIGITS, ROWS_HZ, dbm0_power, frequencies
from tests.unit.inband_signals import (
    decode,
    digits,
    dtmf,
    music,
    sequence,
    silence,
    sox,
    speech,
    speech_corpus,
    white_noise,
)

KEY_OF = {f: k for f, k in zip(ROWS_HZ + COLUMNS_HZ, "159D*86A", strict=True)}
ALIGNMENTS = np.linspace(0, 6.4, 7)


def _accepts(**tone: object) -> bool:
    return digits(decode(sequence(DIGITS, on_ms=60, off_ms=60, **tone))) == DIGITS  # type: ignore[arg-type]


def _offset_band(frequency: float) -> tuple[float, float]:
    key = KEY_OF[frequency]
    steps = np.arange(0.0, 0.05, 0.001)

    def ok(offset: float) -> bool:
        offsets = (offset, 0.0) if frequency in ROWS_HZ else (0.0, offset)
        return digits(decode(sequence(key * 2, on_ms=80, offsets=offsets))) == key * 2

    low = next(-s for s in steps if not ok(-s)) + 0.001
    high = next(s for s in steps if not ok(s)) - 0.001
    return low, high


def _edge(values: np.ndarray, ok: object) -> float:
    passing = [v for v in values if ok(v)]  # type: ignore[operator]
    return float(passing[-1]) if passing else float("nan")


def _always(signal_of: object, want: str) -> bool:
    return all(digits(decode(signal_of(a))) == want for a in ALIGNMENTS)  # type: ignore[operator]


def _cpu_ms_per_s(signal: np.ndarray, rate: int) -> float:
    detector = DTMFDetector(sample_rate=rate)
    frame = rate // 50
    start = time.process_time()
    for i in range(0, len(signal), frame):
        detector.feed(signal[i : i + frame])
    return (time.process_time() - start) / (len(signal) / rate) * 1000


def main() -> None:
    t = Thresholds()
    rows: list[tuple[str, str, str]] = []
    for rate in (8000, 16000, 24000, 48000):
        parts = [silence(80, rate=rate)]
        for d in DIGITS:
            f1, f2 = frequencies(d)
            parts += [sox("-n", "synth", "0.1", "sine", str(f1), "sine", str(f2), rate=rate)]
            parts += [silence(80, rate=rate)]
        got = digits(decode(np.concatenate(parts), rate=rate))
        rows.append(
            (f"sox tones, 16 keys, {rate} Hz", "16/16", f"{sum(map(str.__eq__, got, DIGITS))}/16")
        )
    for frequency in ROWS_HZ + COLUMNS_HZ:
        low, high = _offset_band(frequency)
        rows.append(
            (
                f"frequency {frequency:.0f} Hz: accepted band",
                "accept +-1.5%, reject +-3.5%",
                f"{low:+.1%} to {high:+.1%}",
            )
        )
    normal = _edge(np.arange(0, 12.5, 0.5), lambda tw: _accepts(level_dbm0=-10 - tw, twist_db=tw))
    reverse = _edge(np.arange(0, 8.5, 0.5), lambda tw: _accepts(level_dbm0=-10, twist_db=-tw))
    rows.append(("normal twist (column louder)", "accept <= 8 dB", f"accepted up to {normal} dB"))
    rows.append(("reverse twist (row louder)", "accept <= 4 dB", f"accepted up to {reverse} dB"))
    level = _edge(np.arange(-20, -41, -1.0), lambda lv: _accepts(level_dbm0=lv))
    rows.append(("level per tone", "operate to about -26 dBm0", f"down to {level:.0f} dBm0"))

    def lone(ms: int) -> object:
        return lambda a: np.concatenate((silence(30 + a), dtmf("5", ms), silence(100)))

    shortest = next(ms for ms in range(10, 60) if _always(lone(ms), "5"))
    longest_no = max(ms for ms in range(5, 60) if _always(lone(ms), ""))
    lengths = f"always accepted from {shortest} ms, always rejected up to {longest_no} ms"
    rows.append(("tone length", "accept 40 ms, reject <= 20 ms", lengths))

    def pair(gap: int) -> object:
        return lambda a: np.concatenate(
            (silence(30 + a), dtmf("1", 60), silence(gap), dtmf("1", 60), silence(100))
        )

    split = next(g for g in range(5, 60) if _always(pair(g), "11"))
    bridged = max(g for g in range(1, 60) if _always(pair(g), "1"))
    rows.append(
        (
            "pause between presses",
            "40 ms separates",
            f"always two from {split} ms; one press up to {bridged} ms drop-out",
        )
    )
    clean = sequence(DIGITS, on_ms=50, off_ms=50, level_dbm0=-20)
    power = 2 * dbm0_power(-20)

    def noisy_ok(snr_db: float) -> bool:
        return all(
            digits(decode(white_noise(clean, snr_db=snr_db, tone_power=power, seed=n))) == DIGITS
            for n in range(5)
        )

    snr = _edge(np.arange(20, -1, -1.0), noisy_ok)
    rows.append(
        (
            "white noise (-20 dBm0 tones, 5 runs)",
            "decode at 15 dB SNR",
            f"16/16 down to {snr:.0f} dB SNR",
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        files = speech_corpus(Path(tmp))
        audio = [speech(p, rate=8000) for p in files]
    seconds = sum(len(a) for a in audio) / 8000
    false = sum(len(decode(a, chunk_ms=1000)) for a in audio)
    rows.append(
        (
            f"talk-off: espeak-ng, {len(files)} voices",
            "0 false digits",
            f"{false} in {seconds / 60:.1f} min",
        )
    )
    chords = music(rate=8000)
    false_chords = len(decode(chords, chunk_ms=1000))
    minutes = len(chords) / 8000 / 60
    rows.append(
        ("talk-off: 8 chords x 5 timbres (sox)", "0 false", f"{false_chords} in {minutes:.1f} min")
    )
    for rate in (8000, 48000):
        talk = sox("-n", "synth", "60", "pinknoise", "vol", "0.3", rate=rate)
        keys = np.tile(sequence(DIGITS, on_ms=60, off_ms=60, rate=rate), 6)
        rows.append(
            (
                f"CPU per call, {rate} Hz, 20 ms frames",
                "< 1% of a core",
                f"{_cpu_ms_per_s(np.zeros(rate * 60), rate) / 10:.2f}% silence, "
                f"{_cpu_ms_per_s(talk, rate) / 10:.2f}% loud noise, "
                f"{_cpu_ms_per_s(keys, rate) / 10:.2f}% keys",
            )
        )
    latency = []
    for a in ALIGNMENTS:
        signal = np.concatenate((silence(30 + a), dtmf("5", 80), silence(200)))
        (press,) = decode(signal)
        latency.append(press.detected_s * 1000 - (30 + a + 80))
    rows.append(
        (
            "tone end → detection (20 ms frames)",
            "< 60 ms",
            f"{min(latency):.0f}-{max(latency):.0f} ms",
        )
    )
    print(f"thresholds: {t}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| check | Q.24 / target | measured |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
