"""The targets of issue #7 and the run's summary against them: saturation relative to the
baseline, p99 at 1,000 calls pressing every 2 s, and no lost press."""

from __future__ import annotations

from typing import Any

from bench import floor_targets, rounds
from bench.faststream import compare
from bench.plan import HALF_FLOOR

# Targets from issue #7, on a 2-core machine.
TARGET_RATIO = 0.9
TARGET_P99_MS = 10.0
TARGET_CALLS = 1000
TARGET_INTERVAL_S = 2.0


def summarize(phases: dict[str, dict[str, Any]], scaling: list[dict[str, Any]]) -> dict[str, Any]:
    closed = phases.get("closed")
    baseline = phases.get("baseline")
    ratio = None
    cpu_ratio = None
    if closed and baseline and baseline["replies_per_s"]:
        ratio = round(closed["replies_per_s"] / baseline["replies_per_s"], 3)
        if closed["cpu_us_per_reply"] and baseline["cpu_us_per_reply"]:
            # baseline CPU per reply / the system's: the throughput ratio both would reach
            # on a machine with nothing else running (when both are CPU-bound)
            cpu_ratio = round(baseline["cpu_us_per_reply"] / closed["cpu_us_per_reply"], 3)
    matched = phases.get("baseline-matched")
    matched_ratio = matched_to_baseline = None
    if closed and matched and matched["replies_per_s"]:
        # Not a target: what is left of the gap once the baseline pays for the same
        # topology and durability is the cost of our code; the rest is the design's.
        matched_ratio = round(closed["replies_per_s"] / matched["replies_per_s"], 3)
    if matched and baseline and baseline["replies_per_s"]:
        matched_to_baseline = round(matched["replies_per_s"] / baseline["replies_per_s"], 3)
    # The design's latency floor at the open phase's load, next to the system's there.
    matched_open = phases.get("baseline-matched-open")
    open_phase = phases.get("open")
    # the open phase may also be a scaling one: count it once
    everything = list({id(p): p for p in [*phases.values(), *scaling]}.values())
    lost = sum(p["lost"] for p in everything)
    errors = sum(p["errors"] for p in everything)
    shed = sum(p["shed"] for p in everything)
    targets: dict[str, Any] = {}
    if ratio is not None:
        targets["saturation_ratio_to_baseline"] = {
            "target": f">= {TARGET_RATIO}",
            "measured": ratio,
            "met": ratio >= TARGET_RATIO,
        }
    at_target = [
        p
        for p in everything
        if p["kind"] == "open"
        # its load comes from the floor (in any round): target 3's, not this one
        and p["name"].partition(rounds.SEP)[0] != HALF_FLOOR
        and p["calls"] == TARGET_CALLS
        and p["interval_s"] == TARGET_INTERVAL_S
    ]
    for p in at_target:
        p99 = p["latency_ms"]["p99"]
        targets["p99_ms_at_1000_calls_every_2s"] = {
            "target": f"< {TARGET_P99_MS}",
            "measured": p99,
            "met": p99 is not None and p99 < TARGET_P99_MS,
        }
    # Issue 18, targets 1 to 4: against the design's floor and the peer, in the same run;
    # with --rounds, judged over the rounds.
    targets.update(rounds.judged(phases, compared_targets))
    peer = compare.summary(phases)
    peer.pop("targets", None)
    targets["lost_presses"] = {"target": "0", "measured": lost + errors, "met": lost + errors == 0}
    return {
        **peer,
        "saturation_replies_per_s": closed["replies_per_s"] if closed else None,
        "baseline_replies_per_s": baseline["replies_per_s"] if baseline else None,
        "ratio_to_baseline": ratio,
        "cpu_ratio_to_baseline": cpu_ratio,
        "matched_baseline_replies_per_s": matched["replies_per_s"] if matched else None,
        "ratio_to_matched_baseline": matched_ratio,
        "matched_to_baseline": matched_to_baseline,
        "open_p99_ms": open_phase["latency_ms"]["p99"] if open_phase else None,
        "matched_open_p99_ms": matched_open["latency_ms"]["p99"] if matched_open else None,
        "lost_presses": lost,
        "failed_presses": errors,
        "shed_presses": shed,
        "targets": targets,
    }


def compared_targets(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Issue 18's targets 1 to 3 (against the floor) and 4 (against FastStream) from one
    round's phases."""
    return {**floor_targets.targets(phases), **compare.summary(phases).get("targets", {})}


def targets_met(summary: dict[str, Any]) -> bool:
    return all(t["met"] for t in summary["targets"].values())
