"""`python -m bench --soak` end to end, a few seconds long: the soak run itself works.

It measures saturation with a tiny closed loop, soaks at a tenth of it for 18 s in 6 s
windows with RSS sampled every 2 s, and must write a report of that shape with no lost
press. No timing is asserted, and no memory verdict is expected from so short a run; the
verdict's rule is checked on made-up series instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.soak import memory_verdict

ROOT = Path(__file__).resolve().parents[2]
SERIES_KEYS = {"pid", "t_s", "rss_mb", "slope_mb_per_h", "verdict"}


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_soak_reports_windows_rss_per_process_and_lost(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    argv = ["--soak", "0.3", "--soak-window", "6", "--soak-sample", "2", "--soak-fraction"]
    argv += ["0.1", "--concurrency", "3", "--closed-duration", "1", "--warmup", "0.2"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *argv, "--quiet-wait", "0", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "DTMF_HTTP_PORT": "-1"},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"result: {out}" in done.stdout
    assert "p99 ms" in done.stdout and "verdict" in done.stdout  # the tables

    doc = json.loads(out.read_text())
    assert doc["kind"] == "soak"
    summary = doc["summary"]
    assert summary["lost_presses"] == 0 and summary["failed_presses"] == 0
    assert summary["saturation_replies_per_s"] > 0
    assert summary["calls"] == doc["soak"]["calls"] >= 1
    assert summary["presses"] > 0 and summary["growing"] == []
    # every press published, in both phases, reached the call log once
    assert doc["bus"]["published"] > summary["presses"]
    assert doc["bus"]["missing"] == doc["bus"]["duplicates"] == 0
    assert summary["missing_from_call_log"] == 0

    windows = doc["windows"]
    assert [w["window"] for w in windows] == [1, 2, 3]
    assert [(w["from_s"], w["to_s"]) for w in windows] == [(0, 6), (6, 12), (12, 18)]
    assert len(summary["p99_ms_per_window"]) == 3
    for w in windows:
        assert w["answered"] > 0 and w["unanswered"] == 0
        assert w["latency_ms"]["count"] == w["answered"]
        assert w["latency_ms"]["p99"] is not None
        assert "machine_cpu_pct" in w and "not_ours_pct" in w
    assert sum(w["answered"] for w in windows) == doc["soak"]["replies"]

    rss = doc["rss"]["processes"]
    # the edge load generator, every service and the broker, each sampled over the window
    assert {"edge", "sales", "support", "menu", "calllog", "rabbitmq"} <= set(rss)
    for name, series in rss.items():
        assert set(series) >= SERIES_KEYS, name
        assert len(series["t_s"]) == len(series["rss_mb"]) >= 5, name
        assert all(mb > 0 for mb in series["rss_mb"]), name
        assert series["verdict"] == "too short", name  # 9 s is no second half to judge
        assert "harness_mb_per_h" not in series, name  # nothing is taken out of a slope
    # the load generator kept one latency histogram per window (its memory stays flat)
    assert [t["second"] for t in doc["soak"]["timeline"]] == [0, 6, 12]


# 30 minutes sampled every 30 s, as `make soak` does.
T = [30.0 * i for i in range(61)]
# RabbitMQ's memory in that soak: from about 236 MB up to about 775 MB, about 26 MB a
# sample, and back, every 10.4 minutes; each peak and trough sampled a little later in its
# climb than the one before (they read a few MB higher each time), the run ending on a climb.
BROKER_WAL = [236 + 540 * ((t + 60) % 625) / 625 for t in T]
LEAK_UNDER_WAL = [r + 300 * t / 3600 for t, r in zip(T, BROKER_WAL, strict=True)]


@pytest.mark.parametrize(
    ("shape", "rss", "verdict"),
    [
        ("leak, 40 MB/h", [50 + 40 * t / 3600 for t in T], "growing"),
        ("leak, 20 MB/h", [50 + 20 * t / 3600 for t in T], "growing"),
        ("flat", [50.0 for _ in T], "flat"),
        ("one step in the second half", [50 + (3 if t > 1300 else 0) for t in T], "flat"),
        ("sawtooth", [300 + (t % 600) / 6 for t in T], "flat"),
        ("the broker's WAL, as sampled in 2026-12-03's soak", BROKER_WAL, "flat"),
        ("a 300 MB/h leak under that sawtooth", LEAK_UNDER_WAL, "growing"),
    ],
)
def test_memory_verdict_tells_a_leak_from_steps_and_sawtooth(
    shape: str, rss: list[float], verdict: str
) -> None:
    got = memory_verdict(T, rss, duration=1800, threshold=10.0)
    assert got["verdict"] == verdict, (shape, got)
