"""The tones `send_digits` plays, heard by a decoder nobody here wrote, and by our own.

multimon-ng (Debian's package, its own DTMF decoder) must decode every digit sequence the
generator makes exactly, at the default timing and at the edges the contract allows
(40 ms tones, 40 ms gaps, 1000 ms of either). It is fed raw 16-bit PCM at 22050 Hz, the
rate it decodes at, made by the generator itself; and the agent's 24 kHz output converted
by sox, the audio a call really carries. Needs `make audio-tools`: without the tools these
tests fail, never skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from contracts.replies import PAUSE_MS, SendDigits
from services.edge.inband.tones import DIGITS, FULL_SCALE, power_dbm0
from services.edge.tones import COLUMN_LEVEL_DBM0, ROW_LEVEL_DBM0, dtmf_bytes, dtmf_pcm
from tests.unit.inband_signals import decode, digits, multimon_digits, write_wav

MULTIMON_RATE = 22050
AGENT_RATE = 24000  # videosdk-agents' output track
# The bounds the contract allows, read from it: if they move, the evidence moves with them.
_FIELDS = SendDigits.model_json_schema()["properties"]
BOUNDS = {
    name: (_FIELDS[name]["minimum"], _FIELDS[name]["maximum"]) for name in ("tone_ms", "gap_ms")
}
SHORTEST = BOUNDS["tone_ms"][0], BOUNDS["gap_ms"][0]
LONGEST = BOUNDS["tone_ms"][1], BOUNDS["gap_ms"][1]
DEFAULT = SendDigits(digits="1").tone_ms, SendDigits(digits="1").gap_ms
TIMINGS = {
    "default": DEFAULT,
    "shortest": SHORTEST,
    "shortest_tone_longest_gap": (SHORTEST[0], LONGEST[1]),
    "longest_tone_shortest_gap": (LONGEST[0], SHORTEST[1]),
}
# Every key; the same key again and again (only the gap tells presses apart); the pause.
SEQUENCES = (DIGITS, "1111##**00DD", "5w5ww#")


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [tool for tool in ("multimon-ng", "sox") if shutil.which(tool) is None]
    assert not missing, f"run `make audio-tools`: missing {missing}"


def multimon_raw(pcm: bytes) -> str:
    """multimon-ng on raw 16-bit little-endian mono PCM at 22050 Hz, from stdin."""
    result = subprocess.run(
        ["multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "raw", "-"],
        input=pcm,
        capture_output=True,
        check=True,
    )
    return "".join(
        line.split(":", 1)[1].strip()
        for line in result.stdout.decode().splitlines()
        if line.startswith("DTMF:")
    )


def keys(sequence: str) -> str:
    return sequence.replace("w", "")


@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize("timing", sorted(TIMINGS))
def test_multimon_ng_decodes_every_sequence_exactly(timing: str, sequence: str) -> None:
    tone_ms, gap_ms = TIMINGS[timing]
    pcm = dtmf_bytes(sequence, sample_rate=MULTIMON_RATE, tone_ms=tone_ms, gap_ms=gap_ms)
    assert multimon_raw(pcm) == keys(sequence)


@pytest.mark.parametrize("timing", ["default", "shortest"])
def test_multimon_ng_decodes_the_agents_24_khz_output(timing: str, tmp_path: Path) -> None:
    tone_ms, gap_ms = TIMINGS[timing]
    path = tmp_path / "agent.wav"
    pcm = dtmf_pcm(DIGITS, sample_rate=AGENT_RATE, tone_ms=tone_ms, gap_ms=gap_ms)
    write_wav(path, pcm.astype(np.float64), rate=AGENT_RATE)  # sox resamples for multimon
    assert multimon_digits(path) == DIGITS


@pytest.mark.parametrize("rate", [8000, 16000, AGENT_RATE, 48000])
@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize("timing", sorted(TIMINGS))
def test_our_detector_decodes_every_sequence(timing: str, sequence: str, rate: int) -> None:
    tone_ms, gap_ms = TIMINGS[timing]
    pcm = dtmf_pcm(sequence, sample_rate=rate, tone_ms=tone_ms, gap_ms=gap_ms)
    presses = decode(pcm, rate=rate)
    assert digits(presses) == keys(sequence)
    # Each press is as long as the tone (the detector measures to about two hops).
    assert all(abs(press.duration_ms - tone_ms) <= 13 for press in presses)


def test_tones_gaps_and_pauses_last_what_was_asked() -> None:
    rate = AGENT_RATE
    pcm = dtmf_pcm("1w2", sample_rate=rate, tone_ms=70, gap_ms=50)
    assert len(pcm) == rate * (2 * (70 + 50) + PAUSE_MS) // 1000
    first, second = decode(pcm, rate=rate)
    # The second tone starts after the first's tone and gap and the pause.
    assert abs(second.started_s - first.started_s - (70 + 50 + PAUSE_MS) / 1000) <= 0.007


def test_levels_are_a_telephone_sets_and_never_clip() -> None:
    rate = 8000
    pcm = dtmf_pcm(DIGITS, sample_rate=rate, tone_ms=1000, gap_ms=40)
    assert np.abs(pcm.astype(np.int32)).max() < FULL_SCALE - 1
    # Each tone's level, read back from its own frequency bin over one whole second.
    tone = pcm[:rate].astype(np.float64)
    amplitude = 2 * np.abs(np.fft.rfft(tone)) / len(tone)  # 1 Hz bins: 697, 1209 exact
    row_power, column_power = (amplitude[f] ** 2 / 2 for f in (697, 1209))
    assert power_dbm0(row_power) == pytest.approx(ROW_LEVEL_DBM0, abs=0.2)
    assert power_dbm0(column_power) == pytest.approx(COLUMN_LEVEL_DBM0, abs=0.2)


def test_a_sample_rate_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        dtmf_pcm("1", sample_rate=0)
