"""Issue 18's targets 1 and 2, against the design's floor (`baseline-matched`) measured in
the same run: each Python process at most 1.25x the CPU per reply of its mirror, and the
system's saturation at least 0.85x the floor's. Pure: phase results in, verdicts out.

Target 3 (p99 at half the floor's saturation) needs an open-loop phase whose load is
derived from the floor's result during the run; it is not measured yet.
"""

from __future__ import annotations

from typing import Any

from bench.faststream.compare import FLOOR, SYSTEM, per_role

PROCESS_CPU_RATIO = 1.25  # target 1: a process's CPU per reply over its mirror's
SATURATION_RATIO = 0.85  # target 2: the system's saturation over the floor's
BROKER = "rabbitmq"  # not a Python process of ours: shown, not judged


def process_ratios(system: dict[str, Any], floor: dict[str, Any]) -> dict[str, float]:
    """Each of our Python processes' CPU per reply over its mirror's, by part."""
    ours, mirrors = per_role(system), per_role(floor)
    return {
        part: round(ours[part] / mirrors[part], 2)
        for part in sorted(ours)
        if part != BROKER and mirrors.get(part)
    }


def targets(phases: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Targets 1 and 2 as met or missed, when the run measured both the system's saturation
    and the floor's (nothing otherwise)."""
    system, floor = phases.get(SYSTEM), phases.get(FLOOR)
    if system is None or floor is None or not floor["replies_per_s"]:
        return {}
    out: dict[str, dict[str, Any]] = {}
    ratios = process_ratios(system, floor)
    if ratios:
        out["process_cpu_per_reply_vs_floor"] = {
            "target": f"each <= {PROCESS_CPU_RATIO}x its mirror",
            "measured": ", ".join(f"{part} {r:.2f}x" for part, r in ratios.items()),
            "ratios": ratios,
            "met": all(r <= PROCESS_CPU_RATIO for r in ratios.values()),
        }
    ratio = round(system["replies_per_s"] / floor["replies_per_s"], 3)
    out["saturation_ratio_to_floor"] = {
        "target": f">= {SATURATION_RATIO}",
        "measured": ratio,
        "met": ratio >= SATURATION_RATIO,
    }
    return out
