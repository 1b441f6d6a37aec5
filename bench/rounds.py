"""Rounds (--rounds N): issue 18's comparisons measured N times, interleaved, and judged by
their spread rather than by one sample.

On a shared or drifting machine one run of the system next to its floor is one sample: two
full runs five minutes apart put the saturation ratio at 0.86x and 0.62x (docs/
performance.md, 2026-12-04). So the compared phases (the system's closed loop, the floor,
FastStream, the half-floor pair) run again in rounds 2..N, each round's order the reverse
of the one before so a machine slowing or speeding up through the run favours neither
side. Each round's targets are computed from that round alone; a target is met when every
round meets it, missed when none does, and unsettled (not met) otherwise.

Round 1 is the plan's own phases under their plain names; round r's copies are named
``<name>#r``. Pure: phase results in, verdicts out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

SEP = "#"
MET, MISSED, UNSETTLED = "met", "missed", "unsettled"


def round_name(name: str, number: int) -> str:
    """A phase's name in round `number` (round 1 keeps the plain name)."""
    return name if number == 1 else f"{name}{SEP}{number}"


def by_round(phases: dict[str, dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
    """The phase results split by round, each keyed by plain name: round 1 holds every
    phase of the plan, rounds 2..N the compared ones they repeat."""
    rounds: dict[int, dict[str, dict[str, Any]]] = {1: {}}
    for name, result in phases.items():
        plain, sep, number = name.rpartition(SEP)
        if sep and number.isdigit():
            rounds.setdefault(int(number), {})[plain] = result
        else:
            rounds[1][name] = result
    return [rounds[n] for n in sorted(rounds)]


def _values(target: dict[str, Any]) -> dict[str, float]:
    """What a target's verdict rests on, by part ("" for a single figure)."""
    if "ratios" in target:  # target 1: each process against its mirror
        return dict(target["ratios"])
    for key in ("ratio", "saturation_ratio"):  # target 3; target 4
        if target.get(key) is not None:
            return {"": float(target[key])}
    measured = target.get("measured")
    return {"": float(measured)} if isinstance(measured, int | float) else {}


def _spread(part: str, values: list[float]) -> str:
    label = f"{part} " if part else ""
    low, high = min(values), max(values)
    return f"{label}{statistics.median(values):.2f} ({low:.2f}-{high:.2f})"


def combine(per_round: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """One verdict per target from each round's: its median and range by part, how many
    rounds met it, and each round's own target kept under "rounds". A target some round
    could not measure counts as missed there."""
    count = len(per_round)
    names = list(dict.fromkeys(name for targets in per_round for name in targets))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        seen = [targets.get(name) for targets in per_round]
        measured = [t for t in seen if t is not None]
        met = sum(1 for t in measured if t["met"])
        parts: dict[str, list[float]] = {}
        for t in measured:
            for part, value in _values(t).items():
                parts.setdefault(part, []).append(value)
        spread = ", ".join(_spread(part, values) for part, values in parts.items())
        verdict = MET if met == count else MISSED if met == 0 else UNSETTLED
        out[name] = {
            "target": measured[0]["target"],
            "measured": f"{spread or 'see rounds'}; median (range) of {count} rounds, met in {met}",
            "verdict": verdict,
            "met": verdict == MET,
            "met_in_rounds": met,
            "rounds": seen,
        }
    return out


def judged(
    phases: dict[str, dict[str, Any]],
    targets_of: Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """The compared targets (`targets_of` one round's phases) of a run: as they are with
    one round, combined over the rounds with several."""
    rounds = by_round(phases)
    if len(rounds) == 1:
        return targets_of(rounds[0])
    return combine([targets_of(one) for one in rounds])


def round_lines(targets: dict[str, dict[str, Any]]) -> list[str]:
    """Each combined target's figures round by round, for the report."""
    lines = []
    for name, target in targets.items():
        if "rounds" not in target:
            continue
        shown = []
        for number, one in enumerate(target["rounds"], start=1):
            values = _values(one) if one is not None else {}
            figures = ", ".join(f"{part} {v:.2f}".strip() for part, v in values.items())
            mark = "met" if one is not None and one["met"] else "missed"
            shown.append(f"{number}: {figures or 'not measured'} ({mark})")
        lines.append(f"{name}: " + "; ".join(shown))
    return lines
