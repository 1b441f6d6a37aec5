"""bench.inband, the `inband` phase of `make bench`: its figures and how they meet targets.

Only what does not depend on this machine's speed is asserted: every press is decoded, and
the latency is at least what the detector's release rule costs.
"""

from __future__ import annotations

from typing import Any

from bench import inband
from services.edge.inband.analysis import HOP, RATE
from services.edge.inband.detector import RELEASE_MISSES


async def test_a_short_run_decodes_every_press_and_reports_its_figures() -> None:
    result = await inband.measure_in_loop(seconds=5.0)
    assert result["presses"] == 2
    assert result["decoded_exactly"]
    assert result["cpu_s"] > 0
    # A press is reported once the key has been gone for RELEASE_MISSES hops: no sooner.
    release_ms = (RELEASE_MISSES - 1) * HOP * 1000 / RATE
    assert release_ms <= result["latency_ms"]["p50"] <= result["latency_ms"]["max"]


def _result(cpu_pct: float, worst_ms: float, *, exact: bool = True) -> dict[str, Any]:
    return {
        "format": {"sample_rate": 48000, "channels": 2, "frame_ms": 20},
        "audio_s": 60.0,
        "presses": 30,
        "decoded_exactly": exact,
        "cpu_pct_per_call": cpu_pct,
        "latency_ms": {"p50": 40.0, "max": worst_ms},
    }


def test_targets_are_met_below_the_bounds_and_missed_at_them() -> None:
    met = inband.targets(_result(0.5, 59.9))
    assert all(t["met"] for t in met.values())
    missed = inband.targets(_result(1.0, 60.0))
    assert not any(t["met"] for t in missed.values())
    assert "MISSED" in inband.render(_result(1.0, 60.0))


def test_a_missed_or_extra_press_misses_the_latency_target() -> None:
    targets = inband.targets(_result(0.5, 45.0, exact=False))
    assert not targets["inband_tone_end_to_event_ms_max"]["met"]
