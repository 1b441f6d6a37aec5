"""The `faststream` phase's pure parts (bench.faststream.compare, its planning) and the bench's
--profile flag: what they decide, without a broker or FastStream itself."""

from __future__ import annotations

from typing import Any

import pytest

from bench import floor_targets
from bench.cli import build_parser
from bench.errors import BenchError
from bench.faststream import compare
from bench.faststream.phase import edge_argv, peer_services
from bench.plan import plan, profiled_phase
from bench.report import table
from bench.targets import summarize


def _phase(
    name: str, replies: float, cpu: float | None, processes: dict[str, float]
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "closed" if name == "closed" else "baseline",
        "calls": 32,
        "replies_per_s": replies,
        "cpu_us_per_reply": cpu,
        "processes": {n: {"cpu_us_per_reply": v} for n, v in processes.items()},
        "lost": 0,
        "errors": 0,
        "shed": 0,
        "latency_ms": {"p99": 50.0},
    }


SYSTEM = _phase("closed", 500.0, 3300.0, {"edge": 767.0, "sales": 249.0, "rabbitmq": 1159.0})
FLOOR = _phase(
    "baseline-matched",
    780.0,
    2232.0,
    {"baseline-matched-driver": 421.0, "baseline-matched-sales": 150.0, "rabbitmq": 1021.0},
)


def _peer(replies: float, cpu: float | None) -> dict[str, Any]:
    return _phase(
        "faststream", replies, cpu, {"faststream-driver": 900.0, "faststream-sales": 300.0}
    )


def test_target_4_is_met_only_with_both_the_saturation_ratio_and_less_cpu() -> None:
    met = compare.peer_target(SYSTEM, _peer(400.0, 4000.0))  # 1.25x, cheaper
    assert met is not None and met["met"]
    assert met["saturation_ratio"] == 1.25
    dearer = compare.peer_target(SYSTEM, _peer(300.0, 3000.0))  # faster, but more CPU
    assert dearer is not None and not dearer["met"]
    slower = compare.peer_target(SYSTEM, _peer(420.0, 9000.0))  # 1.19x: not enough
    assert slower is not None and not slower["met"]
    unknown = compare.peer_target(SYSTEM, _peer(300.0, None))  # no CPU figure: not met
    assert unknown is not None and not unknown["met"]
    assert compare.peer_target(SYSTEM, _peer(0.0, None)) is None


def test_a_faster_faststream_is_printed_as_a_finding() -> None:
    phases = {"closed": SYSTEM, "faststream": _peer(600.0, 2500.0)}
    lines = compare.verdict_lines(phases)
    assert lines[0].startswith("system / faststream saturation: 0.83x")
    assert any(line.startswith("FINDING: FastStream is FASTER") for line in lines)
    assert any(line.startswith("FINDING: FastStream costs LESS CPU") for line in lines)
    assert not any(
        "FINDING" in line
        for line in compare.verdict_lines({**phases, "faststream": _peer(300.0, 5000.0)})
    )


def test_a_profiled_system_phase_is_flagged_next_to_the_verdict() -> None:
    profiled = {**SYSTEM, "flame_graphs": {"edge": "var/bench/result.edge.svg"}}
    lines = compare.verdict_lines({"closed": profiled, "faststream": _peer(300.0, 5000.0)})
    assert any(line.startswith("NOTE: py-spy sampled") for line in lines)


def test_the_table_puts_each_part_of_the_three_side_by_side() -> None:
    phases = {"closed": SYSTEM, "baseline-matched": FLOOR, "faststream": _peer(300.0, 5000.0)}
    headers, rows = compare.rows(phases)
    assert headers == ["", "system", "floor (baseline-matched)", "faststream"]
    by_name = {row[0].strip(): row[1:] for row in rows}
    assert by_name["saturation, replies/s"] == [500.0, 780.0, 300.0]
    assert by_name["edge"] == [767.0, 421.0, 900.0]  # the floor's driver and the peer's too
    assert by_name["rabbitmq"] == [1159.0, 1021.0, None]
    text = compare.render(phases, table)
    assert "faststream" in text and "system / faststream saturation: 1.67x" in text
    assert compare.render({"closed": SYSTEM}, table) == ""


@pytest.mark.parametrize(
    ("phase", "process", "part"),
    [
        ("faststream", "faststream-driver", "edge"),
        ("faststream", "faststream-calllog", "calllog"),
        ("closed", "edge-2", "edge"),
        ("baseline-matched", "baseline-matched-driver-1", "edge"),
        ("closed", "rabbitmq", "rabbitmq"),
    ],
)
def test_processes_are_matched_by_their_part(phase: str, process: str, part: str) -> None:
    assert compare.role(phase, process) == part


def test_the_summary_carries_target_4_next_to_the_others() -> None:
    summary = summarize({"closed": SYSTEM, "faststream": _peer(300.0, 5000.0)}, [])
    assert summary["faststream_replies_per_s"] == 300.0
    assert summary["ratio_to_faststream"] == 1.667
    assert summary["targets"][compare.TARGET_NAME]["met"]
    assert "lost_presses" in summary["targets"]
    assert compare.TARGET_NAME not in summarize({"closed": SYSTEM}, [])["targets"]


def test_the_faststream_phase_is_planned_like_the_floor() -> None:
    args = build_parser().parse_args(["--concurrency", "8", "--closed-duration", "3"])
    phases = {p.name: p for p in plan(args)}
    peer, floor = phases["faststream"], phases["baseline-matched"]
    assert (peer.kind, peer.baseline_kind) == ("baseline", "faststream")
    assert (peer.calls, peer.duration, peer.open_loop) == (floor.calls, floor.duration, False)
    names = [p.name for p in plan(args)]
    assert names.index("faststream") == names.index("baseline-matched") + 1


def test_the_peer_runs_the_services_it_has_a_counterpart_of() -> None:
    assert peer_services(["sales", "support", "billing", "menu", "calllog"]) == [
        "sales",
        "support",
        "menu",
        "calllog",
    ]
    args = build_parser().parse_args(["--keys", "1,9", "--reply-timeout", "2"])
    argv = edge_argv(args, url="amqp://x/", offset=4, count=3)
    assert argv[0] == "bench.faststream.edge"
    assert argv[argv.index("--concurrency") + 1] == "3"
    assert argv[argv.index("--offset") + 1] == "4"
    assert argv[argv.index("--keys") + 1] == "1,9"


def test_profile_is_off_by_default_and_samples_the_closed_phase_when_given_bare() -> None:
    parser = build_parser()
    assert parser.parse_args([]).profile is None
    assert parser.parse_args(["--profile"]).profile == "closed"
    assert parser.parse_args(["--profile", "open"]).profile == "open"
    with pytest.raises(SystemExit):
        parser.parse_args(["--profile", "register"])


def test_profile_is_refused_for_a_phase_the_run_does_not_have() -> None:
    parser = build_parser()
    args = parser.parse_args(["--phases", "open", "--profile"])
    with pytest.raises(BenchError, match="no phase closed"):
        profiled_phase(args, plan(args))
    args = parser.parse_args(["--phases", "closed", "--profile"])
    assert profiled_phase(args, plan(args)) == "closed"
    args = parser.parse_args(["--phases", "closed"])
    assert profiled_phase(args, plan(args)) is None


def test_targets_1_and_2_judge_each_python_process_and_saturation_against_the_floor() -> None:
    found = floor_targets.targets({"closed": SYSTEM, "baseline-matched": FLOOR})
    per_process = found["process_cpu_per_reply_vs_floor"]
    # 767/421 and 249/150; the broker is shown elsewhere, not judged
    assert per_process["ratios"] == {"edge": 1.82, "sales": 1.66}
    assert per_process["met"] is False and "edge 1.82x" in per_process["measured"]
    saturation = found["saturation_ratio_to_floor"]
    assert saturation["measured"] == round(500 / 780, 3) and saturation["met"] is False

    lean = _phase("closed", 700.0, 2500.0, {"edge": 500.0, "sales": 180.0, "rabbitmq": 1100.0})
    met = floor_targets.targets({"closed": lean, "baseline-matched": FLOOR})
    assert met["process_cpu_per_reply_vs_floor"]["met"] is True  # 1.19x and 1.20x
    assert met["saturation_ratio_to_floor"]["met"] is True  # 0.897


def test_without_the_floor_targets_1_and_2_are_not_judged() -> None:
    assert floor_targets.targets({"closed": SYSTEM}) == {}
    summary = summarize({"closed": SYSTEM, "baseline-matched": FLOOR}, [])
    assert {"process_cpu_per_reply_vs_floor", "saturation_ratio_to_floor"} <= set(
        summary["targets"]
    )
