"""One event per press when the gateway and the in-band detector both report it, and the
tap that keeps tones away from speech recognition."""

from __future__ import annotations

import numpy as np
import pytest

from services.edge.inband.analysis import RATE, WINDOW
from services.edge.inband.pairing import PressPairing, SourcePolicy
from services.edge.inband.tap import AudioTap
from services.edge.inband.tones import frequencies

# --- pairing ---------------------------------------------------------------------------


def test_a_press_both_sources_report_is_published_once_whichever_comes_first() -> None:
    gateway_first = PressPairing()
    assert gateway_first.gateway("5", at=10.02) is True
    assert gateway_first.inband("5", started=10.0, at=10.10) is False
    inband_first = PressPairing()
    assert inband_first.inband("5", started=10.0, at=10.10) is True
    assert inband_first.gateway("5", at=10.30) is False


def test_two_real_presses_of_the_same_key_stay_two() -> None:
    # 10 keys a second: "1", "1" 100 ms apart, each reported by both sources.
    pairing = PressPairing()
    published = [
        pairing.gateway("1", at=0.02),
        pairing.inband("1", started=0.0, at=0.09),
        pairing.gateway("1", at=0.12),
        pairing.inband("1", started=0.1, at=0.19),
    ]
    assert published == [True, False, True, False]


def test_a_press_one_source_missed_is_still_published() -> None:
    pairing = PressPairing()
    assert pairing.gateway("1", at=0.0) is True  # the detector missed this one
    assert pairing.gateway("1", at=2.0) is True
    assert pairing.inband("1", started=1.98, at=2.1) is False  # pairs with the second
    assert pairing.inband("1", started=4.0, at=4.1) is True  # the gateway missed this one


def test_different_keys_never_pair() -> None:
    pairing = PressPairing()
    assert pairing.gateway("1", at=0.0) is True
    assert pairing.inband("2", started=0.0, at=0.1) is True


def test_a_report_outside_the_window_is_a_new_press() -> None:
    pairing = PressPairing(window_s=0.5)
    assert pairing.gateway("7", at=0.0) is True
    assert pairing.inband("7", started=1.0, at=1.1) is True


def test_a_held_key_pairs_with_the_gateway_event_at_its_start() -> None:
    pairing = PressPairing()
    assert pairing.gateway("#", at=0.05) is True
    assert pairing.inband("#", started=0.0, at=3.04) is False


@pytest.mark.parametrize(
    ("raw", "gateway", "inband"),
    [("gateway", True, False), ("inband", False, True), ("both", True, True)],
)
def test_source_policy_names(raw: str, gateway: bool, inband: bool) -> None:
    policy = SourcePolicy(raw)
    assert (policy.gateway, policy.inband) == (gateway, inband)


# --- the tap ---------------------------------------------------------------------------


def _tone(digit: str, ms: int, rate: int) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    row, column = frequencies(digit)
    return 7000 * (np.sin(2 * np.pi * row * t) + np.sin(2 * np.pi * column * t))


def _through(tap: AudioTap, signal: np.ndarray, *, frame: int) -> tuple[np.ndarray, list[str]]:
    pcm = np.repeat(np.round(signal).astype("<i2")[:, None], tap.channels, axis=1).tobytes()
    step = frame * tap.channels * 2
    out, keys = b"", []
    for i in range(0, len(pcm), step):
        chunk, presses = tap.process(pcm[i : i + step])
        assert len(chunk) == len(pcm[i : i + step])  # the pipeline's frame size is kept
        out += chunk
        keys += [press.digit for press in presses]
    frames = np.frombuffer(out, dtype="<i2").reshape(-1, tap.channels)
    return frames[:, 0].astype(np.float64), keys


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 1), (48000, 2)])
def test_the_tap_silences_the_tone_and_keeps_the_speech(rate: int, channels: int) -> None:
    rng = np.random.default_rng(3)
    talk = rng.normal(0, 1500, rate // 4)  # stands in for speech: no tone in it
    tone = _tone("9", 120, rate)
    signal = np.concatenate((talk, tone, talk))
    tap = AudioTap(sample_rate=rate, channels=channels)
    out, keys = _through(tap, signal, frame=rate // 50)
    assert keys == ["9"]
    delay = WINDOW * rate // RATE  # one detection window: 12.75 ms
    assert tap.delay / rate <= 0.013
    heard = out[delay:]
    tone_part = heard[len(talk) : len(talk) + len(tone)]
    # Only the first few ms of the tone may leak (before the first window counts).
    assert np.count_nonzero(tone_part) / rate <= 0.006
    assert np.sum(tone_part**2) <= 0.06 * np.sum(tone**2)
    before = heard[: len(talk) - delay]
    np.testing.assert_array_equal(before, np.round(talk[: len(before)]).astype("<i2"))


def test_the_tap_without_muting_passes_the_tone_through_late() -> None:
    tone = np.concatenate((_tone("3", 100, 8000), np.zeros(800)))
    tap = AudioTap(sample_rate=8000, mute=False)
    out, keys = _through(tap, tone, frame=160)
    assert keys == ["3"]
    np.testing.assert_array_equal(out[WINDOW:], np.round(tone[:-WINDOW]).astype("<i2"))


def test_the_tap_refuses_a_rate_it_cannot_resample() -> None:
    with pytest.raises(ValueError, match="multiple of 8000"):
        AudioTap(sample_rate=44100)
