"""--rounds without a broker: the compared phases planned again in rounds, interleaved in
alternating order (bench.plan), and issue 18's targets judged over the rounds
(bench.rounds, bench.targets)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import floor_targets, report, rounds
from bench.cli import build_parser
from bench.errors import BenchError
from bench.faststream.compare import FLOOR, PEER, SYSTEM, TARGET_NAME
from bench.plan import HALF_FLOOR, HALF_FLOOR_MATCHED, Derived, Phase, plan
from bench.targets import summarize
from tests.unit.bench_support import run_with

SATURATION = "saturation_ratio_to_floor"


def _names(argv: list[str]) -> list[str]:
    return [step.name for step in plan(build_parser().parse_args(argv))]


def test_each_round_repeats_the_compared_phases_in_the_reverse_order_of_the_one_before() -> None:
    names = _names(["--rounds", "3"])
    first = ["closed", "baseline", FLOOR, PEER, "baseline-matched-open", HALF_FLOOR]
    assert names == [
        "open",
        *first,
        # round 2 backwards; its half-floor still after the floor it derives from
        f"{PEER}#2",
        f"{FLOOR}#2",
        "closed#2",
        f"{HALF_FLOOR}#2",
        "closed#3",
        f"{FLOOR}#3",
        f"{PEER}#3",
        f"{HALF_FLOOR}#3",
        "register",
    ]
    assert _names([]) == ["open", *first, "register"]  # one round: the plan as it was


def test_rounds_repeat_only_the_compared_phases_the_run_has() -> None:
    assert _names(["--phases", "closed,matched", "--rounds", "2"]) == [
        "closed",
        FLOOR,
        f"{FLOOR}#2",
        "closed#2",
    ]
    assert _names(["--phases", "open,register", "--rounds", "3"]) == ["open", "register"]
    with pytest.raises(BenchError, match="--rounds"):
        plan(build_parser().parse_args(["--rounds", "0"]))


def test_a_rounds_half_floor_takes_its_load_from_that_rounds_floor() -> None:
    steps = plan(build_parser().parse_args(["--rounds", "3"]))
    derived = {step.name: step for step in steps if isinstance(step, Derived)}
    run = run_with({FLOOR: {"replies_per_s": 600.0}, f"{FLOOR}#2": {"replies_per_s": 400.0}})

    second = run.expand(derived[f"{HALF_FLOOR}#2"])
    # backwards: the floor's open loop first; both at half of round 2's 400 replies/s
    assert [p.name for p in second] == [f"{HALF_FLOOR_MATCHED}#2", f"{HALF_FLOOR}#2"]
    assert {p.calls for p in second} == {400}  # 200 presses/s x 2 s
    assert [p.name for p in run.expand(derived[HALF_FLOOR])] == [HALF_FLOOR, HALF_FLOOR_MATCHED]
    assert run.expand(derived[f"{HALF_FLOOR}#3"]) == []  # round 3's floor has no result
    assert f"{FLOOR}#3" in run.failures[f"{HALF_FLOOR}#3"]


def test_results_split_by_round_under_their_plain_names() -> None:
    phases: dict[str, dict[str, Any]] = {
        "open": {"n": 0},
        "closed": {"n": 1},
        "closed#2": {"n": 2},
        f"{FLOOR}#2": {"n": 3},
        "closed#3": {"n": 4},
    }
    assert rounds.by_round(phases) == [
        {"open": {"n": 0}, "closed": {"n": 1}},
        {"closed": {"n": 2}, FLOOR: {"n": 3}},
        {"closed": {"n": 4}},
    ]
    assert rounds.round_name("closed", 1) == "closed"


def _closed(name: str, replies_per_s: float, cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "closed" if name.startswith("closed") else "baseline",
        "calls": 32,
        "interval_s": None,
        "replies_per_s": replies_per_s,
        "cpu_us_per_reply": sum(cpu.values()),
        "processes": {process: {"cpu_us_per_reply": us} for process, us in cpu.items()},
        "latency_ms": {"p99": 10.0},
        "lost": 0,
        "errors": 0,
        "shed": 0,
    }


def _round(number: int, system: float, floor: float, peer: float) -> dict[str, dict[str, Any]]:
    """One round's closed loops: the system's sales process at 100 us a reply, its mirror
    at 90 (1.11x), FastStream's sales at 150; baselines' processes named after their
    phase, as bench.phases names them."""
    floor_name, peer_name = rounds.round_name(FLOOR, number), rounds.round_name(PEER, number)
    return {
        rounds.round_name(SYSTEM, number): _closed(
            rounds.round_name(SYSTEM, number), system, {"sales": 100.0}
        ),
        floor_name: _closed(floor_name, floor, {f"{floor_name}-sales": 90.0}),
        peer_name: _closed(peer_name, peer, {f"{peer_name}-sales": 150.0}),
    }


def test_a_target_met_in_every_round_is_met_and_one_met_in_some_is_unsettled() -> None:
    # saturation against the floor: 0.90, 0.80, 0.86 -> met in rounds 1 and 3 only
    # against FastStream: 1.5x, 1.3x, 1.4x and cheaper in every round -> met
    phases = {**_round(1, 900, 1000, 600), **_round(2, 800, 1000, 615), **_round(3, 860, 1000, 614)}
    found = summarize(phases, [])["targets"]

    saturation = found[SATURATION]
    assert (saturation["verdict"], saturation["met"], saturation["met_in_rounds"]) == (
        rounds.UNSETTLED,
        False,
        2,
    )
    assert saturation["measured"].startswith("0.86 (0.80-0.90); median (range) of 3 rounds")
    assert [r["measured"] for r in saturation["rounds"]] == [0.9, 0.8, 0.86]

    peer = found[TARGET_NAME]
    assert (peer["verdict"], peer["met"], peer["met_in_rounds"]) == (rounds.MET, True, 3)
    assert peer["measured"].startswith("1.40 (1.30-1.50)")
    processes = found["process_cpu_per_reply_vs_floor"]
    assert processes["verdict"] == rounds.MET
    assert processes["measured"].startswith("sales 1.11 (1.11-1.11)")
    assert found["lost_presses"]["met"] is True
    assert "UNSETTLED" in report._verdict(saturation) and report._verdict(peer) == "met"
    lines = rounds.round_lines(found)
    assert f"{SATURATION}: 1: 0.90 (met); 2: 0.80 (missed); 3: 0.86 (met)" in lines


def test_a_target_no_round_meets_is_missed_and_a_round_that_could_not_measure_it_misses() -> None:
    phases = {**_round(1, 700, 1000, 600), **_round(2, 860, 1000, 600)}
    del phases["closed#2"]  # round 2's system phase failed: nothing to compare there
    found = summarize(phases, [])["targets"]
    assert found[SATURATION]["verdict"] == rounds.MISSED
    assert found[SATURATION]["rounds"][1] is None
    assert "2: not measured (missed)" in next(
        line for line in rounds.round_lines(found) if line.startswith(SATURATION)
    )


def test_with_one_round_the_targets_are_as_before() -> None:
    found = summarize(_round(1, 900, 1000, 600), [])["targets"]
    assert (
        found[SATURATION]
        == floor_targets.saturation_targets(
            _round(1, 900, 1000, 600)[SYSTEM], _round(1, 900, 1000, 600)[FLOOR]
        )[SATURATION]
    )
    assert "verdict" not in found[SATURATION] and rounds.round_lines(found) == []


def test_later_rounds_presses_count_towards_lost_presses() -> None:
    phases = {**_round(1, 900, 1000, 600), **_round(2, 900, 1000, 600)}
    phases["closed#2"]["lost"] = 3
    summary = summarize(phases, [])
    assert summary["lost_presses"] == 3 and summary["targets"]["lost_presses"]["met"] is False


def test_a_plain_phase_expands_to_itself_in_any_round() -> None:
    phase = Phase("closed#2", "closed", 32, 15.0)
    assert run_with({}).expand(phase) == [phase]
