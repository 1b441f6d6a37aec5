"""The soak run, `python -m bench --soak MINUTES` (`make soak`): does any process grow, or
the latency drift, over a long run at a load the machine sustains?

In the benchmark's private vhost, with the services up as it starts them (bench.run):

1. saturation: the benchmark's closed-loop phase (--concurrency calls, --closed-duration s);
2. the soak: one open-loop phase (bench.phases.run_phase) at --soak-fraction of that rate,
   as calls = rate x --interval each pressing every --interval s, for MINUTES; one phase, so
   every process (edge load generators, services, broker) lives through the whole run;
3. meanwhile RSS and CPU of every process the meter follows, every --soak-sample s, aligned
   on the phase's measurement window.

Then per --soak-window: presses answered, p50/p99/max, unanswered; per process its RSS over
time and a verdict (see `memory_verdict`); the presses published against the call log (see
`bus_check`). bench.report.render_soak prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from bench.aggregate import unanswered
from bench.errors import BenchError
from bench.histogram import Histogram, by_start
from bench.phases import read_json, run_phase
from bench.plan import Phase
from bench.procstat import Sample, Sampler, cpu_between
from bench.run import before_phase, system_up
from bench.worker import SLICE_ENV

log = logging.getLogger(__name__)

# No verdict on a second half shorter than this, or with fewer samples a quarter: a 1 MB
# step of an allocator in 90 s reads as 40 MB/hour.
MIN_VERDICT_S = 300.0
MIN_QUARTER_SAMPLES = 2
# CPU % (of one core) used by other work above which a stretch's figures are skewed.
NOISY_PCT = 20


def check(args: argparse.Namespace) -> None:
    if args.soak <= 0 or args.soak_window <= 0 or args.soak_sample <= 0:
        raise BenchError("--soak, --soak-window and --soak-sample must be positive")
    if not 0 < args.soak_fraction <= 1:
        raise BenchError("--soak-fraction must be in (0, 1]")


def soak_load(saturation: float, args: argparse.Namespace) -> tuple[int, float]:
    """(calls, presses/s) of the soak: its fraction of saturation, as paced callers."""
    calls = max(1, round(args.soak_fraction * saturation * args.interval))
    return calls, calls / args.interval


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


async def run_soak(
    args: argparse.Namespace, *, url: str, run_dir: Path, port: int
) -> dict[str, Any]:
    """The saturation phase, the soak phase and what was sampled during it (see module)."""
    loadavg_before = load_average()
    async with system_up(args, url=url, run_dir=run_dir, port=port) as (processes, services):
        closed = Phase("closed", "closed", args.concurrency, args.closed_duration)
        await before_phase(closed, args=args, services=services)
        saturation = await run_phase(closed, args=args, url=url, processes=processes)
        base = args.soak_saturation or saturation["replies_per_s"]
        if not base:
            raise BenchError("the closed loop got no reply: no saturation rate to soak at")
        if saturation["other_cpu_pct"] > NOISY_PCT and not args.soak_saturation:
            log.warning(
                "other work used %.0f%% CPU while saturation was measured: the soak runs at a "
                "share of a low figure (--soak-saturation pins one from a quiet `make bench`)",
                saturation["other_cpu_pct"],
            )
        calls, rate = soak_load(base, args)
        log.info(
            "saturation %s replies/s: soak at %g%%, %s calls x 1 press / %g s = %.1f presses/s",
            base,
            100 * args.soak_fraction,
            calls,
            args.interval,
            rate,
        )
        phase = Phase("soak", "open", calls, 60 * args.soak, open_loop=True)
        await before_phase(phase, args=args, services=services)
        # One latency histogram per window in each load generator: its memory stays flat.
        processes.env[SLICE_ENV] = f"{args.soak_window:g}"
        sampler = Sampler(processes.meter, args.soak_sample)
        sampling = asyncio.create_task(sampler.run())
        try:
            result = await run_phase(phase, args=args, url=url, processes=processes)
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
        origin = processes.meter.window_start
        codes = await services.stop()
    assert origin is not None  # run_phase began the window
    return {
        "failures": {},
        "saturation": saturation,
        "soak": {
            "saturation_replies_per_s": base,
            "saturation_pinned": bool(args.soak_saturation),
            "fraction": args.soak_fraction,
            "calls": calls,
            "presses_per_s": rate,
            **result,
        },
        **figures(run_dir, phase, result, sampler, origin=origin, args=args),
        "load_average": {"before": loadavg_before, "after": load_average()},
        "service_exit_codes": codes,
    }


def figures(
    run_dir: Path,
    phase: Phase,
    result: dict[str, Any],
    sampler: Sampler,
    *,
    origin: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Per-window latency and CPU, and each process's RSS series with its verdict."""
    # The edge load generators' own figures, by the name the meter knows them under.
    workers = {p.stem.removeprefix("soak-"): read_json(p) for p in run_dir.glob("soak-edge*.json")}
    windows = per_window(list(workers.values()), phase, args, unanswered=unanswered(result))
    add_cpu(windows, sampler.samples, origin)
    rss = rss_series(sampler.samples, sampler.pids, origin=origin, end=phase.duration)
    for series in rss.values():
        series.update(
            memory_verdict(
                series["t_s"],
                series["rss_mb"],
                duration=phase.duration,
                threshold=args.soak_leak_mb_h,
            )
        )
    return {
        "windows": windows,
        "rss": {"sample_s": args.soak_sample, "processes": rss},
        "cpu": cpu_series(sampler.samples, origin, phase.duration),
        "bus": bus_check(run_dir),
    }


def bus_check(run_dir: Path) -> dict[str, int] | None:
    """The presses the edges published (both phases) against the call log, which taps every
    event: a press lost on the bus is missing there, whereas an unanswered one (shed, or
    expired in a service queue while the machine stalled) is not."""
    log_path = run_dir / "calllog.jsonl"
    if not log_path.exists():  # --services without the call log
        return None
    published = 0
    for path in run_dir.glob("*-edge*.json"):
        w = read_json(path)
        published += w["total_presses"] - w["shed"] - w["errors"]
    ids: set[str] = set()
    lines = 0
    with log_path.open() as f:
        for line in f:
            if '"key_press"' in line:
                lines += 1
                ids.add(json.loads(line)["event_id"])
    return {
        "published": published,
        "in_call_log": len(ids),
        "missing": published - len(ids),
        "duplicates": lines - len(ids),
    }


def per_window(
    workers: list[dict[str, Any]], phase: Phase, args: argparse.Namespace, *, unanswered: int
) -> list[dict[str, Any]]:
    """Answered presses and their latency per window of the phase, by when they were made
    (the load generators' histograms, one per window: see bench.histogram for the precision).
    Unanswered presses are only counted, not timed, by the load generators: when there are
    any, a window's share is estimated as scheduled - answered."""
    size = args.soak_window
    count = max(1, math.ceil(phase.duration / size - 1e-9))
    latencies = [Histogram() for _ in range(count)]
    for start, histogram in by_start(workers).items():
        latencies[min(count - 1, int(start / size + 1e-9))].merge(histogram)
    if any(abs(size / w["slice_s"] - round(size / w["slice_s"])) > 1e-6 for w in workers):
        log.warning("latency slices do not divide the %g s windows: their edges blur", size)
    out = []
    for i, values in enumerate(latencies):
        start, end = i * size, min(phase.duration, (i + 1) * size)
        scheduled = round(phase.calls * (end - start) / args.interval)
        out.append(
            {
                "window": i + 1,
                "from_s": start,
                "to_s": end,
                "scheduled": scheduled,
                "answered": values.count,
                "unanswered": max(0, scheduled - values.count) if unanswered else 0,
                "latency_ms": values.summary_ms(),
            }
        )
    return out


def add_cpu(windows: list[dict[str, Any]], samples: list[Sample], origin: float) -> None:
    for w in windows:
        inside = [s for s in samples if w["from_s"] - 1 <= s.at - origin <= w["to_s"] + 1]
        machine, other = cpu_between(inside[0], inside[-1]) if len(inside) > 1 else (None, None)
        w["machine_cpu_pct"], w["not_ours_pct"] = machine, other


def cpu_series(samples: list[Sample], origin: float, end: float) -> list[dict[str, float]]:
    """Machine CPU and CPU not ours between consecutive samples, by the later one's time."""
    inside = [s for s in samples if s.at - origin <= end + 1]
    out = []
    for a, b in itertools.pairwise(inside):
        machine, other = cpu_between(a, b)
        out.append({"t_s": round(b.at - origin, 1), "machine_pct": machine, "not_ours_pct": other})
    return out


def rss_series(
    samples: list[Sample], pids: dict[str, int], *, origin: float, end: float
) -> dict[str, dict[str, Any]]:
    """Each process's RSS samples, t in seconds from the window's start (negative: during
    start-up and warm-up), up to the window's end (after it, the load generators tear down)."""
    out: dict[str, dict[str, Any]] = {}
    for s in samples:
        t = s.at - origin
        if t > end + 1:
            break
        for name, mb in s.rss_mb.items():
            series = out.setdefault(name, {"pid": pids[name], "t_s": [], "rss_mb": []})
            series["t_s"].append(round(t, 1))
            series["rss_mb"].append(mb)
    return out


def slope_mb_per_h(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per hour."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return 3600 * sum((t - mean_t) * (r - mean_r) for t, r in points) / var


def memory_verdict(
    t_s: list[float],
    rss_mb: list[float],
    *,
    duration: float,
    threshold: float,
) -> dict[str, Any]:
    """Growing: RSS rose faster than `threshold` MB/h over the second half of the run (a
    least-squares slope), kept making new highs to the end (the third quarter's peak above
    the first half's, the last quarter's above the third's) and its lows rose (the second
    half's least above the first half's). A leak passes all four; a one-off step (a table
    resized) makes no new high after it; a sawtooth (the broker's WAL memory, freed at each
    roll-over) keeps returning to the same lows. A cache still filling could pass; the
    services' id memories (services/runtime/recent_ids.py) and the load generators' latency
    histograms (bench/histogram.py) take theirs when built."""
    raw = [(t, r) for t, r in zip(t_s, rss_mb, strict=True) if t >= 0]
    quarters: list[list[float]] = [[], [], [], []]
    for t, r in raw:
        quarters[min(3, int(4 * t / duration))].append(r)
    out: dict[str, Any] = {
        "first_mb": raw[0][1] if raw else None,
        "last_mb": raw[-1][1] if raw else None,
        "peak_mb": max(r for _, r in raw) if raw else None,
        "threshold_mb_per_h": threshold,
    }
    if duration / 2 < MIN_VERDICT_S or min(len(q) for q in quarters) < MIN_QUARTER_SAMPLES:
        return {**out, "slope_mb_per_h": None, "verdict": "too short"}
    slope = slope_mb_per_h([(t, r) for t, r in raw if t >= duration / 2])
    first_half, second_half = quarters[0] + quarters[1], quarters[2] + quarters[3]
    third, last = max(quarters[2]), max(quarters[3])
    rise = new_extreme_margin([r for _, r in raw], threshold=threshold, duration=duration)
    growing = (
        slope > threshold
        and last > third + rise
        and third > max(first_half) + rise
        and min(second_half) > min(first_half) + rise
    )
    return {
        **out,
        "slope_mb_per_h": round(slope, 2),
        "margin_mb": round(rise, 2),
        "verdict": "growing" if growing else "flat",
    }


def new_extreme_margin(rss_mb: list[float], *, threshold: float, duration: float) -> float:
    """How far past an earlier high (or low) a sampled one must be to count as new. At least
    half of what the threshold rate adds in a quarter, as RSS also creeps by a few pages while
    allocators settle; and at least the median move between two samples, since on a ramp a
    sampled peak or trough misses the true one by up to a sample's move: on 2026-12-03 the
    broker's WAL climbed 32 MB a sample, and peaks read a few MB apart were no growth."""
    moves = sorted(abs(b - a) for a, b in itertools.pairwise(rss_mb))
    median_move = moves[len(moves) // 2] if moves else 0.0
    return max(threshold * duration / 4 / 3600 / 2, median_move)


def document(measured: dict[str, Any], *, header: dict[str, Any]) -> dict[str, Any]:
    """The soak's result JSON: the header the benchmark's has, its figures and a summary."""
    soak = measured["soak"]
    rss = measured["rss"]["processes"]
    summary = {
        "saturation_replies_per_s": soak["saturation_replies_per_s"],
        "measured_saturation_replies_per_s": measured["saturation"]["replies_per_s"],
        "calls": soak["calls"],
        "presses_per_s": soak["presses_per_s"],
        "minutes": soak["duration_s"] / 60,
        "presses": soak["total_presses"],
        "lost_presses": soak["lost"],
        "failed_presses": soak["errors"],
        "shed_presses": soak["shed"],
        "p99_ms_per_window": [w["latency_ms"]["p99"] for w in measured["windows"]],
        "growing": sorted(n for n, s in rss.items() if s["verdict"] == "growing"),
        "missing_from_call_log": (measured["bus"] or {}).get("missing"),
    }
    body = {k: v for k, v in measured.items() if k != "failures"}
    return {**header, "kind": "soak", **body, "summary": summary}


def exit_code(doc: dict[str, Any]) -> int:
    """1 when a press was lost or failed or is missing from the call log, or a process's
    memory kept growing; else 0."""
    s = doc["summary"]
    failed = s["lost_presses"] or s["failed_presses"] or s["missing_from_call_log"]
    return 1 if failed or s["growing"] else 0
