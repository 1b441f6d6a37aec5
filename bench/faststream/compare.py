"""The system next to its floor (`baseline-matched`) and its peer (`faststream`), from one
run's phase results, and issue 18's target 4: ahead of the peer.

Pure: phase results in (bench.aggregate's), figures and text out; it needs no FastStream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

# bench.report.table, passed in: bench.report imports this module.
Table = Callable[[Sequence[str], Sequence[Sequence[Any]]], str]

# Issue 18, target 4: the system's saturation at least this many times FastStream's, and a
# lower CPU per reply (every process of each, the broker included), in the same run.
PEER_SATURATION_RATIO = 1.25
TARGET_NAME = "ahead_of_faststream"

SYSTEM, FLOOR, PEER = "closed", "baseline-matched", "faststream"
COLUMNS = ((SYSTEM, "system"), (FLOOR, "floor (baseline-matched)"), (PEER, "faststream"))


def peer_target(system: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any] | None:
    """Target 4 as met or missed; None when the peer answered nothing (nothing to compare)."""
    if not peer["replies_per_s"]:
        return None
    ratio = round(system["replies_per_s"] / peer["replies_per_s"], 3)
    ours, theirs = system.get("cpu_us_per_reply"), peer.get("cpu_us_per_reply")
    cheaper = ours is not None and theirs is not None and ours < theirs
    cpu = f"{ours} vs {theirs} us" if ours is not None and theirs is not None else "unknown"
    return {
        "target": f">= {PEER_SATURATION_RATIO}x FastStream's saturation and less CPU per reply",
        "measured": f"{ratio:.2f}x its saturation; CPU per reply {cpu}",
        "saturation_ratio": ratio,
        "cpu_us_per_reply": {"system": ours, "faststream": theirs},
        "met": ratio >= PEER_SATURATION_RATIO and cheaper,
    }


def summary(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The summary's figures on the peer (empty without a faststream phase), and target 4
    under "targets" when the run also measured the system's saturation."""
    peer = phases.get(PEER)
    if peer is None:
        return {}
    out: dict[str, Any] = {
        "faststream_replies_per_s": peer["replies_per_s"],
        "faststream_cpu_us_per_reply": peer.get("cpu_us_per_reply"),
    }
    system = phases.get(SYSTEM)
    target = peer_target(system, peer) if system else None
    if target is not None:
        out["ratio_to_faststream"] = target["saturation_ratio"]
        out["targets"] = {TARGET_NAME: target}
    return out


def role(phase: str, process: str) -> str:
    """A process's part, the same in every phase: `faststream-sales` and `sales` are both
    the sales service, `baseline-matched-driver` and `edge` the edge."""
    name = process.removeprefix(f"{phase}-")
    name = re.sub(r"-\d+$", "", name)  # edge-2 of several edges: the edge
    return "edge" if name == "driver" else name


def per_role(phase: dict[str, Any]) -> dict[str, float]:
    """CPU us per reply by part (several edges added up)."""
    out: dict[str, float] = {}
    for name, usage in phase["processes"].items():
        value = usage.get("cpu_us_per_reply")
        if value is not None:
            part = role(phase["name"], name)
            out[part] = round(out.get(part, 0.0) + value, 1)
    return out


def rows(phases: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the side-by-side table: saturation, CPU per reply, per part."""
    shown = [(key, title) for key, title in COLUMNS if key in phases]
    parts: dict[str, dict[str, float]] = {key: per_role(phases[key]) for key, _ in shown}
    names: list[str] = []
    for key, _ in shown:
        names += [n for n in parts[key] if n not in names]
    table: list[list[Any]] = [
        ["saturation, replies/s", *(phases[key]["replies_per_s"] for key, _ in shown)],
        ["CPU us per reply, all", *(phases[key].get("cpu_us_per_reply") for key, _ in shown)],
    ]
    table += [[f"  {n}", *(parts[key].get(n) for key, _ in shown)] for n in names]
    return ["", *(title for _, title in shown)], table


def verdict_lines(phases: dict[str, dict[str, Any]]) -> list[str]:
    """What the table says about the peer, plainly, including when FastStream is faster."""
    system, peer = phases.get(SYSTEM), phases.get(PEER)
    if system is None or peer is None or not peer["replies_per_s"]:
        return []
    ratio = system["replies_per_s"] / peer["replies_per_s"]
    lines = [f"system / faststream saturation: {ratio:.2f}x (target >= {PEER_SATURATION_RATIO})"]
    if system.get("flame_graphs"):
        lines.append(
            "NOTE: py-spy sampled the system's phase (--profile) and slowed it: compare the "
            "figures of a run without --profile"
        )
    if ratio < 1:
        lines.append(
            f"FINDING: FastStream is FASTER than the system: {peer['replies_per_s']:,.0f} "
            f"against {system['replies_per_s']:,.0f} replies/s"
        )
    ours, theirs = system.get("cpu_us_per_reply"), peer.get("cpu_us_per_reply")
    if ours is not None and theirs is not None and ours >= theirs:
        lines.append(
            f"FINDING: FastStream costs LESS CPU per reply than the system: {theirs:,.0f} "
            f"against {ours:,.0f} us"
        )
    return lines


def render(phases: dict[str, dict[str, Any]], table: Table) -> str:
    """The side-by-side table (`table`: bench.report.table) and the verdict, or nothing
    when the run has no faststream phase."""
    if PEER not in phases:
        return ""
    headers, body = rows(phases)
    calls = phases[PEER]["calls"]
    text = f"\nthe system, its floor and FastStream, closed loop C={calls}, same run\n"
    text += table(headers, body)
    return text + "".join(f"  {line}\n" for line in verdict_lines(phases))
