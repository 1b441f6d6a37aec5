"""Signals for the in-band DTMF tests, and the outside tools that make or check them.

Levels follow services/edge/inband/tones.py: dBm0 per tone, 0 dBm0 = a sine 3.17 dB below
16-bit full scale. SNR is the two tones' power over the white noise's power in the whole
band (0 to half the sample rate).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.edge.inband.detector import DetectedPress, DTMFDetector
from services.edge.inband.tones import dbm0_amplitude, frequencies

Signal = npt.NDArray[np.float64]
TOOLS = ("sox", "multimon-ng", "espeak-ng")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def dtmf(
    digit: str,
    ms: float,
    *,
    rate: int = 8000,
    level_dbm0: float = -10.0,
    offsets: tuple[float, float] = (0.0, 0.0),
    twist_db: float = 0.0,
    phase: float = 0.0,
) -> Signal:
    """One key's tone; `twist_db` > 0 makes the column louder (normal twist), the row then
    at `level_dbm0` and the column `twist_db` above it."""
    t = np.arange(round(rate * ms / 1000)) / rate
    row, column = frequencies(digit)
    a = dbm0_amplitude(level_dbm0)
    b = dbm0_amplitude(level_dbm0 + twist_db)
    return a * np.sin(2 * np.pi * row * (1 + offsets[0]) * t + phase) + b * np.sin(
        2 * np.pi * column * (1 + offsets[1]) * t + 2 * phase
    )


def silence(ms: float, *, rate: int = 8000) -> Signal:
    return np.zeros(round(rate * ms / 1000))


def sequence(
    digits: str, *, on_ms: float = 60, off_ms: float = 60, rate: int = 8000, **tone: object
) -> Signal:
    parts = [silence(off_ms, rate=rate)]
    for digit in digits:
        parts += [dtmf(digit, on_ms, rate=rate, **tone), silence(off_ms, rate=rate)]  # type: ignore[arg-type]
    return np.concatenate(parts)


def white_noise(signal: Signal, *, snr_db: float, tone_power: float, seed: int) -> Signal:
    rng = np.random.default_rng(seed)
    return signal + rng.normal(0.0, np.sqrt(tone_power / 10 ** (snr_db / 10)), len(signal))


def decode(signal: npt.ArrayLike, *, rate: int = 8000, chunk_ms: int = 20) -> list[DetectedPress]:
    """The detector over `signal` fed in chunks as a call's audio arrives, then flushed."""
    x = np.asarray(signal, dtype=np.float64)
    detector = DTMFDetector(sample_rate=rate)
    chunk = rate * chunk_ms // 1000
    presses = [p for i in range(0, len(x), chunk) for p in detector.feed(x[i : i + chunk])]
    return presses + detector.flush()


def digits(presses: Sequence[DetectedPress]) -> str:
    return "".join(press.digit for press in presses)


def sox(*args: str, rate: int) -> Signal:
    """Run `sox` with `args` between the input and output; its 16-bit mono output at `rate`."""
    out = ["-r", str(rate), "-b", "16", "-c", "1", "-e", "signed", "-t", "raw", "-"]
    raw = subprocess.run(["sox", *args[:1], *out, *args[1:]], capture_output=True, check=True)
    return np.frombuffer(raw.stdout, dtype="<i2").astype(np.float64)


def write_wav(path: Path, signal: Signal, *, rate: int) -> None:
    pcm = np.clip(np.round(signal), -32768, 32767).astype("<i2").tobytes()
    subprocess.run(
        [
            "sox",
            "-t",
            "raw",
            "-r",
            str(rate),
            "-b",
            "16",
            "-c",
            "1",
            "-e",
            "signed",
            "-",
            str(path),
        ],
        input=pcm,
        check=True,
    )


def multimon_digits(path: Path) -> str:
    """What multimon-ng's own DTMF decoder hears in a WAV file."""
    result = subprocess.run(
        ["multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "wav", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return "".join(
        line.split(":", 1)[1].strip()
        for line in result.stdout.splitlines()
        if line.startswith("DTMF:")
    )


# Talk-off: espeak-ng voices (several accents and languages, male and female variants) reading
# phone-menu English with spoken digits, and the same text in other languages' phonetics.
VOICES = (
    ("en-us", 40), ("en-gb", 60), ("en-gb-scotland", 30), ("en-029", 70), ("en-us+f3", 80),
    ("en-us+m7", 20), ("en-gb+f2", 90), ("de", 50), ("fr", 65), ("es", 45), ("it", 75),
)  # fmt: skip
SPEECH_TEXT = (
    "Thank you for calling. Please listen carefully as our menu options have changed. "
    "For account balances and recent transactions, press one. To report a lost or stolen "
    "card, press two. I would like to speak with somebody about my bill from last month, it "
    "seems too high. My number is five five five, one two three four, and my account is nine "
    "eight seven six five four three two one zero. Yes, that's right, the star key and then "
    "the pound key. Could you repeat that please? I'm sorry, I didn't catch that. The weather "
    "tomorrow will be sunny with a high of seventy two degrees. She sells sea shells by the "
    "sea shore. Hello? Hello? Is anyone there? Okay, okay, hmm, let me think about it. One, "
    "two, three, four, five, six, seven, eight, nine, ten, eleven, twelve. Aaah. Eeeee. "
    "Ooooh. Mmmmm. Beep beep. The quick brown fox jumps over the lazy dog while the eager "
    "beaver builds a dam."
)


def speech_corpus(directory: Path) -> list[Path]:
    """One WAV per voice (about a minute each), made once into `directory`."""
    text = directory / "speech.txt"
    text.write_text(SPEECH_TEXT)
    paths = []
    for voice, pitch in VOICES:
        path = directory / f"speech-{voice}.wav"
        if not path.exists():
            command = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", "160", "-f", str(text)]
            subprocess.run([*command, "-w", str(path)], check=True, capture_output=True)
        paths.append(path)
    return paths


def speech(path: Path, *, rate: int) -> Signal:
    """A corpus file at `rate`, normalized to a peak of -0.1 dBFS (loud speech)."""
    return sox(str(path), "norm", "-0.1", rate=rate)


# Music-like: chord progressions of 3 and 4 notes in several timbres (sox's synth), with
# notes that sit near DTMF frequencies (F5 = 698 Hz, E6 = 1319 Hz, ...).
CHORDS = (
    ("F4", "A4", "C5"), ("C5", "E5", "G5"), ("F5", "A5", "C6"), ("F5", "A5", "C6", "E6"),
    ("G5", "B5", "D6"), ("A4", "C5", "E5", "G5"), ("D5", "F#5", "A5"), ("E5", "G#5", "B5", "D6"),
)  # fmt: skip
TIMBRES = ("sine", "square", "triangle", "sawtooth", "pluck")


def music(*, rate: int, seconds_per_chord: float = 1.5) -> Signal:
    parts = []
    for timbre in TIMBRES:
        for chord in CHORDS:
            notes = [arg for note in chord for arg in (timbre, note)]
            args = ["-n", "synth", str(seconds_per_chord), *notes, "remix", "-", "norm", "-1"]
            parts.append(sox(*args, rate=rate))
    return np.concatenate(parts)
