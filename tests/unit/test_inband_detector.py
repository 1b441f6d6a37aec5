"""The in-band DTMF detector against ITU-T Q.24 acceptance and tools nobody here wrote.

Q.24 criteria (as spandsp and Asterisk document them) are the bounds: accept +-1.5% of
nominal frequency, reject beyond +-3.5%; accept normal twist up to 8 dB and reverse twist up
to 4 dB; accept 40 ms tones and 40 ms pauses, reject tones of 20 ms; operate down to -26 dBm0
per tone and with 15 dB SNR; no digits from speech or music (talk-off). sox makes tones,
multimon-ng (its own DTMF decoder) vouches for our generated signals, espeak-ng speaks.
Needs the tools of `make audio-tools` (scripts/ensure-audio-tools.sh).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.edge.inband.tones import COLUMNS_HZ, DIGITS, ROWS_HZ, dbm0_power, frequencies
from tests.unit.inband_signals import (
    decode,
    digits,
    dtmf,
    missing_tools,
    multimon_digits,
    music,
    sequence,
    silence,
    sox,
    speech,
    speech_corpus,
    white_noise,
    write_wav,
)


@pytest.fixture(autouse=True)
def _audio_tools() -> None:
    # The evidence comes from tools nobody here wrote: without them the tests fail, never skip.
    missing = missing_tools()
    assert not missing, f"run `make audio-tools`: missing {missing}"


RATES = (8000, 16000, 24000, 48000)
# One key per row and per column, so each of the 8 frequencies is exercised.
ROW_KEYS = {697.0: "1", 770.0: "5", 852.0: "9", 941.0: "D"}
COLUMN_KEYS = {1209.0: "*", 1336.0: "8", 1477.0: "6", 1633.0: "A"}


def _sox_digits(rate: int, *, volume: float) -> np.ndarray:
    parts = [silence(80, rate=rate)]
    for digit in DIGITS:
        row, column = frequencies(digit)
        tone = sox("-n", "synth", "0.1", "sine", str(row), "sine", str(column), rate=rate)
        parts += [tone * volume, silence(80, rate=rate)]
    return np.concatenate(parts)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("volume", [1.0, 0.05])
def test_decodes_every_key_sox_makes(rate: int, volume: float) -> None:
    # sox's two sines peak near -3 dBFS; 0.05 puts each tone near -22 dBm0.
    presses = decode(_sox_digits(rate, volume=volume), rate=rate)
    assert digits(presses) == DIGITS
    assert all(abs(press.duration_ms - 100) <= 13 for press in presses)  # two hops


def test_multimon_ng_hears_the_same_keys_in_our_test_signals(tmp_path: Path) -> None:
    # The generated signals the Q.24 cases use are DTMF to an independent decoder too.
    path = tmp_path / "keys.wav"
    write_wav(path, sequence(DIGITS, on_ms=60, off_ms=60), rate=8000)
    assert multimon_digits(path) == DIGITS


@pytest.mark.parametrize("rate", RATES)
def test_one_press_each_for_ten_keys_a_second(rate: int) -> None:
    # Q.24: 40 ms tone, 40 ms pause; the fastest keying is 10 digits/s (50 + 50 ms).
    keys = "1234567890*#ABCD"
    assert digits(decode(sequence(keys, on_ms=50, off_ms=50, rate=rate), rate=rate)) == keys
    assert digits(decode(sequence(keys, on_ms=40, off_ms=40, rate=rate), rate=rate)) == keys


@pytest.mark.parametrize("offset", [-0.015, 0.015])
def test_accepts_every_frequency_off_by_1_5_percent(offset: float) -> None:
    for frequency, key in (ROW_KEYS | COLUMN_KEYS).items():
        offsets = (offset, 0.0) if frequency in ROWS_HZ else (0.0, offset)
        signal = sequence(key * 3, on_ms=50, off_ms=50, offsets=offsets)
        assert digits(decode(signal)) == key * 3, f"{frequency} Hz {offset:+.1%}"


@pytest.mark.parametrize("offset", [-0.05, -0.035, 0.035, 0.05])
def test_rejects_every_frequency_off_by_3_5_percent_or_more(offset: float) -> None:
    # Up to 5%: further out, a row or column frequency nears its neighbour (697 + 10% = 767).
    for frequency, key in (ROW_KEYS | COLUMN_KEYS).items():
        offsets = (offset, 0.0) if frequency in ROWS_HZ else (0.0, offset)
        signal = sequence(key * 3, on_ms=100, off_ms=50, offsets=offsets)
        assert digits(decode(signal)) == "", f"{frequency} Hz {offset:+.1%}"


@pytest.mark.parametrize("twist_db", [-4.0, -2.0, 0.0, 4.0, 8.0])
def test_accepts_twist_within_q24_limits(twist_db: float) -> None:
    # Positive: column (high group) louder, normal twist; negative: reverse twist.
    level = -10.0 - max(twist_db, 0.0)
    assert digits(decode(sequence(DIGITS, level_dbm0=level, twist_db=twist_db))) == DIGITS


@pytest.mark.parametrize("twist_db", [-8.0, -6.0, 12.0])
def test_rejects_twist_well_beyond_the_limits(twist_db: float) -> None:
    level = -10.0 - max(twist_db, 0.0)
    assert digits(decode(sequence(DIGITS, level_dbm0=level, twist_db=twist_db))) == ""


@pytest.mark.parametrize("level", [-3.0, -10.0, -20.0, -26.0])
def test_accepts_levels_down_to_minus_26_dbm0(level: float) -> None:
    assert digits(decode(sequence(DIGITS, level_dbm0=level))) == DIGITS


def test_ignores_tones_far_below_the_operating_range() -> None:
    assert digits(decode(sequence(DIGITS, level_dbm0=-40.0))) == ""


@pytest.mark.parametrize("snr_db", [15.0, 20.0])
def test_decodes_every_key_at_15_db_snr(snr_db: float) -> None:
    level = -20.0
    clean = sequence(DIGITS, on_ms=50, off_ms=50, level_dbm0=level)
    for seed in range(3):
        noisy = white_noise(clean, snr_db=snr_db, tone_power=2 * dbm0_power(level), seed=seed)
        assert digits(decode(noisy)) == DIGITS, f"seed {seed}"


@pytest.mark.parametrize("on_ms", [40, 45, 60, 250, 1000])
def test_accepts_tones_of_40_ms_and_longer_once_with_their_length(on_ms: int) -> None:
    for start_ms in np.linspace(0, 6.4, 7):  # every alignment to the 6.4 ms analysis hop
        signal = np.concatenate((silence(30 + start_ms), dtmf("5", on_ms), silence(100)))
        (press,) = decode(signal)
        assert press.digit == "5"
        assert abs(press.duration_ms - on_ms) <= 13  # two analysis hops
        assert abs(press.started_s * 1000 - (30 + start_ms)) <= 7


@pytest.mark.parametrize("on_ms", [5, 10, 15, 20])
def test_rejects_tones_of_20_ms_and_shorter(on_ms: int) -> None:
    for start_ms in np.linspace(0, 6.4, 7):
        signal = np.concatenate((silence(30 + start_ms), dtmf("5", on_ms), silence(100)))
        assert decode(signal) == []


@pytest.mark.parametrize("gap_ms", [40, 60, 100])
def test_a_pause_of_40_ms_separates_two_presses_of_the_same_key(gap_ms: int) -> None:
    for start_ms in np.linspace(0, 6.4, 4):
        signal = np.concatenate(
            (silence(30 + start_ms), dtmf("1", 60), silence(gap_ms), dtmf("1", 60), silence(100))
        )
        assert digits(decode(signal)) == "11"


@pytest.mark.parametrize("gap_ms", [5, 10])
def test_a_short_drop_out_inside_a_tone_does_not_make_two_presses(gap_ms: int) -> None:
    # A lost packet or a fade of up to 10 ms: one press (Q.24's interruption tolerance).
    for start_ms in np.linspace(0, 6.4, 4):
        signal = np.concatenate(
            (silence(30 + start_ms), dtmf("1", 80), silence(gap_ms), dtmf("1", 80), silence(100))
        )
        assert digits(decode(signal)) == "1"


def test_a_key_held_for_seconds_is_one_press() -> None:
    (press,) = decode(np.concatenate((silence(50), dtmf("#", 3000), silence(100))))
    assert (press.digit, abs(press.duration_ms - 3000) <= 13) == ("#", True)


@pytest.fixture(scope="session")
def speech_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return speech_corpus(tmp_path_factory.mktemp("espeak"))


def test_no_digits_in_ten_minutes_of_speech(speech_files: list[Path]) -> None:
    seconds, false = 0.0, []
    for path in speech_files:
        audio = speech(path, rate=8000)
        seconds += len(audio) / 8000
        false += [(path.name, press) for press in decode(audio, chunk_ms=1000)]
    assert seconds >= 600
    assert false == []


def test_no_digits_in_music_like_chords() -> None:
    assert decode(music(rate=8000), chunk_ms=1000) == []


def test_speech_around_keys_leaves_the_keys_alone(speech_files: list[Path]) -> None:
    # Talking right before and after the keys (speech at -10 dB below the tones' peak).
    talk = speech(speech_files[0], rate=8000)[: 8000 * 3] * 0.3
    keys = sequence("159#", on_ms=60, off_ms=60)
    signal = np.concatenate((talk[:12000], keys, talk[12000:]))
    assert digits(decode(signal)) == "159#"


def test_the_thresholds_stay_between_q24s_accept_and_reject_bounds() -> None:
    # The numbers the suite rests on, kept in view: changing one must be deliberate.
    from services.edge.inband.analysis import Thresholds

    t = Thresholds()
    assert 0.015 < t.max_deviation < 0.035
    assert 8.0 <= t.normal_twist_db < 12.0 and 4.0 <= t.reverse_twist_db < 6.0
    assert -40.0 < t.min_level_dbm0 < -26.0
    assert COLUMNS_HZ[-1] * (1 + t.max_deviation) < 2 * ROWS_HZ[0] * 1.5  # sanity of the table
