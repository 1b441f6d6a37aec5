"""Issue 18's target 3 without a broker: the open-loop load derived from the floor's
saturation (bench.plan), the plan's second step (bench.run.Run.expand), and the verdict
(bench.floor_targets)."""

from __future__ import annotations

import pytest

from bench import floor_targets, report
from bench.cli import build_parser
from bench.errors import BenchError
from bench.phases import _worker_argv
from bench.plan import (
    HALF_FLOOR,
    HALF_FLOOR_MATCHED,
    Derived,
    Phase,
    half_floor_phases,
    paced_load,
    plan,
)
from bench.targets import summarize
from tests.unit.bench_support import run_with


@pytest.mark.parametrize(
    ("rate", "interval", "calls"),
    [
        (250.0, 2.0, 500),  # a whole number of calls: the interval stays
        (101.7, 0.5, 51),  # 50.85 calls: 51, each a little slower than every 0.5 s
        (0.3, 2.0, 1),  # below one call's share: one call, pressing every 3.3 s
        (1234.5, 2.0, 2469),
    ],
)
def test_the_paced_load_makes_the_rate_asked_for(rate: float, interval: float, calls: int) -> None:
    got_calls, pace = paced_load(rate, interval)
    assert got_calls == calls
    assert got_calls / pace == pytest.approx(rate, rel=1e-9)
    # the pace stays within half a call's share of the one asked for, but below one call
    if rate * interval >= 1:
        assert abs(pace - interval) <= interval / (2 * rate * interval) + 1e-12


@pytest.mark.parametrize(("rate", "interval"), [(0.0, 2.0), (-5.0, 2.0), (100.0, 0.0)])
def test_no_paced_load_at_a_rate_or_interval_of_zero(rate: float, interval: float) -> None:
    with pytest.raises(BenchError):
        paced_load(rate, interval)


def test_both_half_floor_phases_run_half_the_floors_replies_at_the_same_pace() -> None:
    system, floor = half_floor_phases({"replies_per_s": 503.0}, interval=2.0, duration=20.0)
    assert (system.name, system.kind, system.baseline_kind) == (HALF_FLOOR, "open", None)
    assert (floor.name, floor.kind, floor.baseline_kind) == (
        HALF_FLOOR_MATCHED,
        "baseline",
        "matched",
    )
    for phase in (system, floor):
        assert phase.open_loop and phase.duration == 20.0
        assert phase.calls == 503  # 251.5 presses/s x 2 s
        assert phase.calls / phase.interval_s(build_parser().parse_args([])) == 251.5
    assert system.derived_load == floor.derived_load
    assert system.derived_load is not None
    assert system.derived_load["saturation_replies_per_s"] == 503.0
    assert system.derived_load["pinned"] is False
    with pytest.raises(BenchError, match="no saturation to take half of"):
        half_floor_phases({"replies_per_s": 0.0}, interval=2.0, duration=20.0)


def test_a_pinned_floor_saturation_sets_the_load_instead_of_the_measured_one() -> None:
    system, _ = half_floor_phases({"replies_per_s": 503.0}, interval=0.5, duration=1.5, pinned=40.0)
    assert (system.calls, system.interval) == (10, 0.5)  # 20 presses/s
    assert system.derived_load is not None and system.derived_load["pinned"] is True
    args = build_parser().parse_args(["--floor-saturation", "40", "--interval", "0.5"])
    derived = next(s for s in plan(args) if isinstance(s, Derived))
    assert derived.build({"replies_per_s": 503.0})[0].calls == 10
    with pytest.raises(BenchError, match="must be positive"):
        plan(build_parser().parse_args(["--floor-saturation", "0"]))


def test_the_derived_entry_comes_after_the_floor_and_before_the_register_phase() -> None:
    args = build_parser().parse_args(["--interval", "0.5", "--open-duration", "3"])
    steps = plan(args)
    names = [s.name for s in steps]
    derived = steps[names.index(HALF_FLOOR)]
    assert isinstance(derived, Derived) and derived.source == "baseline-matched"
    assert names.index("baseline-matched") < names.index(HALF_FLOOR) < names.index("register")
    system, _ = derived.build({"replies_per_s": 100.0})
    assert (system.calls, system.interval, system.duration) == (25, 0.5, 3.0)


def test_half_floor_needs_the_floor_in_the_run() -> None:
    parser = build_parser()
    with pytest.raises(BenchError, match="add matched"):
        plan(parser.parse_args(["--phases", "closed,half-floor"]))
    steps = plan(parser.parse_args(["--phases", "closed,matched"]))
    assert not any(isinstance(s, Derived) for s in steps)


def test_the_second_step_builds_the_phases_from_the_floors_result() -> None:
    args = build_parser().parse_args([])
    derived = next(s for s in plan(args) if isinstance(s, Derived))
    run = run_with({"baseline-matched": {"replies_per_s": 600.0}})
    phases = run.expand(derived)
    assert [p.name for p in phases] == [HALF_FLOOR, HALF_FLOOR_MATCHED]
    assert phases[0].calls == 600 and run.failures == {}
    plain = Phase("closed", "closed", 32, 15.0)
    assert run.expand(plain) == [plain]


def test_without_the_floors_result_the_derived_entry_fails_alone() -> None:
    derived = next(s for s in plan(build_parser().parse_args([])) if isinstance(s, Derived))
    missing = run_with({})
    assert missing.expand(derived) == []
    assert "baseline-matched" in missing.failures[HALF_FLOOR]
    silent = run_with({"baseline-matched": {"replies_per_s": 0.0}})
    assert silent.expand(derived) == []
    assert "no saturation to take half of" in silent.failures[HALF_FLOOR]


def test_the_workers_of_a_derived_phase_pace_at_its_own_interval() -> None:
    args = build_parser().parse_args(["--interval", "2"])
    system, floor = half_floor_phases({"replies_per_s": 203.4}, interval=0.5, duration=1.0)
    for phase in (system, floor):
        argv = _worker_argv(phase, args, url="amqp://x/", offset=0, count=phase.calls)
        assert float(argv[argv.index("--interval") + 1]) == phase.interval
        assert argv[argv.index("--total") + 1] == "51"
    plain = Phase("open", "open", 10, 1.0, open_loop=True)
    argv = _worker_argv(plain, args, url="amqp://x/", offset=0, count=10)
    assert argv[argv.index("--interval") + 1] == "2.0"  # --interval, as before


def _open(name: str, p99: float | None, *, calls: int = 500, interval: float = 2.0) -> dict:
    return {
        "derived_load": {"saturation_replies_per_s": 500.0, "pinned": False},
        "name": name,
        "kind": "open" if name == HALF_FLOOR else "baseline",
        "calls": calls,
        "interval_s": interval,
        "latency_ms": {"p99": p99},
        "lost": 0,
        "errors": 0,
        "shed": 0,
    }


@pytest.mark.parametrize(
    ("ours", "floor", "met"),
    [
        (13.0, 10.0, True),  # 1.3x: on the target
        (10.0, 12.0, True),  # faster than the floor
        (13.04, 10.0, False),  # 1.304x: shown as 1.30x, still above
        (20.0, 10.0, False),
        (None, 10.0, False),  # the system answered nothing
        (10.0, None, False),
        (10.0, 0.0, False),  # no floor p99 to divide by
    ],
)
def test_target_3_compares_the_p99s_at_the_same_load(
    ours: float | None, floor: float | None, met: bool
) -> None:
    found = floor_targets.targets(
        {HALF_FLOOR: _open(HALF_FLOOR, ours), HALF_FLOOR_MATCHED: _open(HALF_FLOOR_MATCHED, floor)}
    )
    target = found[floor_targets.P99_TARGET]
    assert target["met"] is met
    assert target["presses_per_s"] == 250.0
    assert "250 presses/s, half of 500)" in target["measured"]
    assert target["floor_saturation_replies_per_s"] == 500.0
    if met:
        assert target["ratio"] <= floor_targets.P99_RATIO


def test_target_3_says_when_the_floors_saturation_was_pinned() -> None:
    system = _open(HALF_FLOOR, 6.0)
    system["derived_load"] = {"saturation_replies_per_s": 500.0, "pinned": True}
    target = floor_targets.p99_target(system, _open(HALF_FLOOR_MATCHED, 5.0))
    assert target["floor_saturation_pinned"] is True
    assert "half of 500 (pinned)" in target["measured"]


@pytest.mark.parametrize(("shed", "lost", "errors"), [(451, 0, 0), (0, 3, 0), (0, 0, 2)])
def test_target_3_is_missed_when_the_system_left_presses_unanswered(
    shed: int, lost: int, errors: int
) -> None:
    # Its p99 is of the answered presses only: a fast one while refusing others is no latency
    # at a load the machine carries.
    system = {**_open(HALF_FLOOR, 9.0), "shed": shed, "lost": lost, "errors": errors}
    target = floor_targets.p99_target(system, _open(HALF_FLOOR_MATCHED, 10.0))
    assert target["ratio"] == 0.9
    assert target["met"] is False
    assert target["system_unanswered"] == shed + lost + errors
    assert f"; {shed + lost + errors} presses unanswered" in target["measured"]


def test_target_3_shows_how_busy_the_machine_was_at_that_load() -> None:
    system = {**_open(HALF_FLOOR, 12.0), "machine_cpu_pct": 188.3}
    floor = {**_open(HALF_FLOOR_MATCHED, 10.0), "machine_cpu_pct": 173.3}
    target = floor_targets.p99_target(system, floor)
    assert target["met"] is True
    assert target["machine_cpu_pct"] == {"system": 188.3, "floor": 173.3}
    assert "machine CPU 188.3% vs 173.3%" in target["measured"]


def test_target_3_needs_both_phases() -> None:
    assert floor_targets.targets({HALF_FLOOR: _open(HALF_FLOOR, 5.0)}) == {}
    assert floor_targets.targets({HALF_FLOOR_MATCHED: _open(HALF_FLOOR_MATCHED, 5.0)}) == {}


def test_a_half_floor_load_of_1000_calls_every_2s_is_not_issue_7s_fixed_row() -> None:
    phases = {
        HALF_FLOOR: _open(HALF_FLOOR, 30.0, calls=1000),
        HALF_FLOOR_MATCHED: _open(HALF_FLOOR_MATCHED, 29.0, calls=1000),
    }
    found = summarize(phases, [])["targets"]
    assert "p99_ms_at_1000_calls_every_2s" not in found
    assert found[floor_targets.P99_TARGET]["met"] is True


def test_a_derived_interval_is_shown_short_in_the_table() -> None:
    assert report._load(_open(HALF_FLOOR, 1.0, calls=503, interval=1.993377)) == (
        "503 calls / 1.99s"
    )
    assert report._load(_open(HALF_FLOOR, 1.0, calls=1000, interval=2.0)) == "1000 calls / 2s"
