"""A phase's result: its load workers' result files and the measured window merged into
the figures the result JSON holds (latency, throughput, CPU per reply, edge memory)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench.histogram import Histogram, by_start, merged
from bench.plan import Phase
from bench.system import service_list


def unanswered(result: dict[str, Any]) -> int:
    """A phase's presses that got no reply: lost (none in time), failed, or shed (not sent,
    the edge said busy). Its latency figures are of the answered ones only."""
    return int(result["lost"] + result["errors"] + result["shed"])


def aggregate(
    phase: Phase,
    results: list[dict[str, Any]],
    *,
    window: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    # Latency histograms (bench.histogram: percentiles within 0.4 %; count, max, mean exact)
    # per slice of the window: 1 s in a phase of up to 2 minutes (see bench.worker).
    slices = by_start(results)
    latency = merged(list(slices.values()))
    lag = merged([Histogram.from_json(r["lag"]) for r in results])
    timeline = [
        {"second": int(s) if s == int(s) else s, "replies": h.count, **h.summary_ms()}
        for s, h in sorted(slices.items())
    ]
    presses = sum(r["presses"] for r in results)
    replies = sum(r["replies"] for r in results)
    out: dict[str, Any] = {
        "name": phase.name,
        "kind": phase.kind,
        "calls": phase.calls,
        "edges": len(results),
        "open_loop": phase.open_loop,
        "interval_s": phase.interval_s(args) if phase.open_loop else None,
        "derived_load": phase.derived_load,  # None unless the load came from an earlier phase
        "duration_s": phase.duration,
        "warmup_s": args.warmup,
        "baseline_queue": phase.baseline_kind,
        "presses": presses,
        "replies": replies,
        "lost": sum(r["lost"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "shed": sum(r.get("shed", 0) for r in results),
        "total_presses": sum(r["total_presses"] for r in results),
        "presses_per_s": round(presses / phase.duration, 1),
        "replies_per_s": round(replies / phase.duration, 1),
        "latency_ms": latency.summary_ms(),
        "schedule_lag_ms": lag.summary_ms() if phase.open_loop else None,
        "machine_cpu_pct": window["machine_cpu_pct"],
        "other_cpu_pct": window["other_cpu_pct"],
        "window_s": window["seconds"],
        "processes": {
            name: usage
            for name, usage in window["processes"].items()
            # the system's services idle through the baseline: not part of it
            if not (phase.kind == "baseline" and name in service_list(args))
        },
        # per slice (1 s up to 2-minute phases) of the window: replies and latency of the
        # presses made in it
        "timeline": [
            {k: t[k] for k in ("second", "replies", "p50", "p99", "max")} for t in timeline
        ],
    }
    for usage in out["processes"].values():
        usage["cpu_us_per_reply"] = (
            round(1e6 * usage["cpu_s"] / replies * phase.duration / window["seconds"], 1)
            if replies
            else None
        )
    per_reply = [u["cpu_us_per_reply"] for u in out["processes"].values()]
    if replies and all(v is not None for v in per_reply):
        # Every process's CPU per reply, added up: what one reply costs the machine. Less
        # sensitive to other jobs on the machine than replies/s, and it bounds them:
        # all cores busy with nothing else gives at most cores * 1e6 / this replies/s.
        total = sum(per_reply)
        out["cpu_us_per_reply"] = round(total, 1)
        out["cpu_bound_replies_per_s"] = round((os.cpu_count() or 1) * 1e6 / total, 1)
    else:
        out["cpu_us_per_reply"] = out["cpu_bound_replies_per_s"] = None
    out["edge_memory"] = _edge_memory(results)
    return out


def _edge_memory(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Memory per live call at the edge, over every edge that measured it."""
    memories = [r["memory"] for r in results if r.get("memory")]
    if not memories:
        return None
    calls = sum(m["live_calls"] for m in memories)
    rss_delta = sum((m["rss_with_calls_mb"] - m["rss_before_calls_mb"]) for m in memories)
    rss_loaded = sum((m["rss_after_load_mb"] - m["rss_before_calls_mb"]) for m in memories)
    traced = [m["traced_bytes_per_call"] for m in memories if m["traced_bytes_per_call"]]
    return {
        "live_calls": calls,
        "rss_delta_bytes_per_call": round(rss_delta * 2**20 / calls) if calls else None,
        "rss_under_load_bytes_per_call": round(rss_loaded * 2**20 / calls) if calls else None,
        "traced_bytes_per_call": round(sum(traced) / len(traced)) if traced else None,
        "per_edge": memories,
    }
