"""`python -m bench`: the dtmf-bus benchmark, end to end on this machine.

1. a private vhost on the local RabbitMQ (deleted at the end);
2. the real consumer services (sales, support, menu, calllog), each its own process started
   as `python -m services.<name>` exactly as `dtmf-bus demo` does, ready once the broker
   shows a consumer on each of their queues;
3. phases, each with fresh load generator processes (`python -m bench.loadgen`) driving
   the edge's real code path, started together on a shared clock:
   - open:    N calls pressing one key every 2 s each, phases staggered;
   - closed:  C calls pressing as soon as the previous reply is applied (saturation);
   - baseline: the same closed loop on a lean aio-pika request/reply pair (bench.baseline);
   - matched: that baseline on dtmf-bus's own topology and durability (not a target; it
     shows how much of the gap is the design and how much our code);
   - faststream: the peer, the same design written the idiomatic FastStream way
     (bench.faststream), in the closed loop: issue 18's target 4;
   - matched-open: the matched baseline at the open phase's load: the design's latency floor;
   - half-floor: the system and the matched baseline in the open loop at half the floor's
     saturation as `matched` measured it in this run (issue 18's target 3: a load every
     machine carries, so their p99s compare fairly);
   - register: the edge pod as Kubernetes runs it, the SDK's worker with a job process per
     call (bench.register): call start time, memory per job process, broker memory per call;
   - scaling (--scaling): the open loop at 100, 1,000 and 5,000 calls;
   - inband: first, and without the broker (alone, `--phases inband`, it needs none): one
     call's audio through the in-band DTMF detector, its CPU and tone-end-to-event latency
     (bench.inband);
4. a table on stdout and a JSON file (default var/bench/result-<UTC timestamp>.json); with
   --profile, a py-spy flame graph of each Python process of the closed (or open) phase
   beside it (result-<UTC timestamp>.<process>.svg).

With --soak MINUTES (`make soak`), steps 3 and 4 are the soak run instead (bench.soak): the
closed loop to measure saturation, then the open loop at half that rate for MINUTES with the
RSS of every process sampled over time; JSON in var/bench/soak-<UTC timestamp>.json.

Exit status: 0, or 1 when any press went unanswered (lost) or failed (a soak: or is missing
from the call log, or a process's memory kept growing), or 2 when --check-targets is given
and a target is missed. Progress goes to stderr.

This module holds the options and main; the rest: bench.plan (which phases), bench.run (the
run, phase after phase), bench.phases (one phase), bench.system (the services),
bench.processes (spawning and stopping), bench.aggregate (a phase's figures), bench.targets
(the summary against issue #7's targets), bench.rounds (--rounds: issue 18's targets judged
over interleaved rounds), bench.report (the tables), bench.soak (--soak).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from bench import inband, report, soak
from bench.broker import BrokerError, PrivateVhost, broker_version, check_local, reachable
from bench.errors import BenchError
from bench.phases import py_spy
from bench.plan import (
    DEFAULT_KEYS,
    PHASE_KINDS,
    PROFILED_KINDS,
    SCALING_CALLS,
    plan,
    profiled_phase,
)
from bench.register.report import render_register
from bench.run import run_bench
from bench.system import SERVICES, service_list
from bench.targets import summarize, targets_met

log = logging.getLogger(__name__)


def report_progress() -> None:
    """Progress and errors of every bench.* logger to stderr, one `bench: ...` line each."""
    logger = logging.getLogger("bench")
    if not logger.handlers:  # main() may run more than once in a process
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("bench: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a root handler (pytest, an embedding program) would repeat it


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark dtmf-bus: press-to-reply latency and calls per machine.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--phases",
        default=",".join(PHASE_KINDS),
        help="comma-separated phases to run, in this order: inband (no broker), open, closed, "
        "baseline, matched, faststream, matched-open, half-floor (needs matched: its load is "
        "half the floor's saturation), register",
    )
    p.add_argument(
        "--profile",
        nargs="?",
        const="closed",
        default=None,
        choices=PROFILED_KINDS,
        metavar="PHASE",
        help="py-spy flame graphs (SVG) of every Python process of a phase of the system: "
        "closed (saturation; the default) or open, written next to the result JSON. The "
        "samplers' CPU shows as 'not ours': compare figures of unprofiled runs",
    )
    p.add_argument(
        "--register-calls",
        type=int,
        default=50,
        help="register phase: calls started at once on one edge pod (DTMF_EDGE_MAX_CALLS, "
        "whose default is 50)",
    )
    p.add_argument(
        "--inband-audio",
        type=float,
        default=inband.AUDIO_S,
        help=f"inband phase: seconds of caller audio ({inband.AUDIO_S:.0f}; a press every "
        f"{inband.PRESS_EVERY_S:.0f} s)",
    )
    p.add_argument("--calls", type=int, default=1000, help="open loop: concurrent calls")
    p.add_argument(
        "--interval", type=float, default=2.0, help="open loop: seconds between presses per call"
    )
    p.add_argument("--open-duration", type=float, default=20.0, help="open loop: seconds")
    p.add_argument(
        "--concurrency", type=int, default=32, help="closed loop and baseline: concurrent calls"
    )
    p.add_argument("--closed-duration", type=float, default=15.0, help="closed loop: seconds")
    p.add_argument(
        "--baseline-duration", type=float, default=None, help="baseline: seconds (default: closed)"
    )
    p.add_argument(
        "--baseline-kind",
        choices=("quorum", "classic", "both"),
        default="quorum",
        help="baseline request queue type (quorum matches the services' queues)",
    )
    p.add_argument(
        "--scaling",
        action="store_true",
        help="also run the open loop at --scaling-calls (replaces 'open' when --calls is one)",
    )
    p.add_argument(
        "--scaling-calls",
        default=",".join(str(n) for n in SCALING_CALLS),
        help="open loop sizes for --scaling",
    )
    p.add_argument("--scaling-duration", type=float, default=None, help="default: open duration")
    p.add_argument(
        "--floor-saturation",
        type=float,
        default=None,
        metavar="REPLIES_PER_S",
        help="half-floor: the floor's saturation to take half of (the floor is still measured "
        "and reported); on a shared machine, one from a quiet `make bench` keeps runs "
        "comparable, and a small one keeps a smoke run light",
    )
    p.add_argument(
        "--services",
        default=",".join(SERVICES),
        help="consumer services to start (default: those `dtmf-bus demo` starts); leave one "
        "out to measure what it costs",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the compared phases (closed, matched, faststream, half-floor) this many "
        "times, interleaved, each round in the reverse order of the one before; issue 18's "
        "targets are then judged on every round (met only when each round meets them)",
    )
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    p.add_argument(
        "--edges", type=int, default=1, help="edge (load generator) processes sharing the calls"
    )
    p.add_argument(
        "--keys",
        default=DEFAULT_KEYS,
        help="key mix every call cycles through (leave out keys answered by a Gather, like "
        "billing's 3: the presses it collects get no reply of their own and count as lost)",
    )
    p.add_argument("--reply-timeout", type=float, default=5.0, help="a press is lost after this")
    p.add_argument("--prefetch", type=int, default=None, help="DTMF_PREFETCH for every process")
    p.add_argument(
        "--edge-loop",
        choices=("asyncio", "uvloop"),
        default="uvloop",
        help="event loop of the load generator processes (the edge; uvloop, as the edge runs)",
    )
    p.add_argument(
        "--baseline-loop",
        choices=("asyncio", "uvloop"),
        default=None,
        help="event loop of both baseline processes (default: as --edge-loop)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each phase, wait up to this many seconds for the machine to be idle "
        "(other jobs skew every figure; 0: don't wait)",
    )
    p.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="MINUTES",
        help="instead of the phases: the soak run (bench.soak), saturation then an open loop "
        "at --soak-fraction of it for MINUTES, RSS of every process over time",
    )
    p.add_argument("--soak-fraction", type=float, default=0.5, help="soak: share of saturation")
    p.add_argument(
        "--soak-saturation",
        type=float,
        default=None,
        metavar="REPLIES_PER_S",
        help="soak: the saturation to take a share of (still measured and reported); on a "
        "shared machine, one from a quiet `make bench` keeps soaks comparable",
    )
    p.add_argument("--soak-window", type=float, default=300.0, help="soak: seconds per window")
    p.add_argument(
        "--soak-sample", type=float, default=30.0, help="soak: seconds between RSS samples"
    )
    p.add_argument(
        "--soak-leak-mb-h",
        type=float,
        default=10.0,
        help="soak: RSS slope over the second half (MB/hour) above which a process that also "
        "ends at a new high is growing",
    )
    p.add_argument(
        "--out", default=None, help="result JSON (default var/bench/result-<ts>.json, soak-<ts>)"
    )
    p.add_argument(
        "--keep-logs", action="store_true", help="keep var/bench/run-<ts>/ (process logs)"
    )
    p.add_argument(
        "--check-targets", action="store_true", help="exit 2 when a target of issue #7 is missed"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report_progress()
    base_url = os.environ.get("AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/"
    try:
        if profiled_phase(args, plan(args)) and py_spy() is None:
            raise BenchError("--profile needs py-spy: pip install py-spy")
        if args.soak is not None:
            soak.check(args)
        host, port = check_local(base_url)
    except (BenchError, BrokerError) as error:
        log.error("%s", error)
        return 2
    detector = _inband(args)
    if detector is not None and not plan(args):  # nothing else asked for: no broker needed
        sys.stdout.write(inband.render(detector))
        return 2 if args.check_targets and not inband_met(detector) else 0
    if not reachable(host, port):
        log.error("no broker at %s:%s: start one with `make broker`", host, port)
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kind = "result" if args.soak is None else "soak"
    out = Path(args.out) if args.out else Path("var/bench") / f"{kind}-{stamp}.json"
    # The flame graphs go next to the JSON: <its name without .json>.<process>.svg
    args.profile_base = str(out.with_suffix("")) if args.profile else None
    run_dir = Path("var/bench") / f"run-{stamp}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    vhost = PrivateVhost(base_url)
    try:
        with vhost as url:
            runner = run_bench if args.soak is None else soak.run_soak
            measured = asyncio.run(runner(args, url=url, run_dir=run_dir, port=port))
        measured["inband"] = detector
    except (BenchError, BrokerError, TimeoutError) as error:
        log.error("failed: %s", error)
        log.error("logs kept in %s", run_dir)
        return 2
    code = _report(args, measured, started=started, out=out)
    if code == 0 and not args.keep_logs:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:  # a lost press, a failed phase, a leak: the processes' logs say why
        log.warning("logs kept in %s", run_dir)
    return code


def _report(
    args: argparse.Namespace, measured: dict[str, Any], *, started: dt.datetime, out: Path
) -> int:
    """Write the result and print its tables; the exit status."""
    header = {
        "benchmark": "dtmf-bus",
        "format": 1,
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "machine": machine_info(),
        "config": {k: v for k, v in vars(args).items()},
        "services": service_list(args),
    }
    if args.soak is not None:
        doc = soak.document(measured, header=header)
        write(doc, out, report.render_soak(doc))
        return soak.exit_code(doc)
    summary = summarize(measured["phases"], measured["scaling"])
    if measured.get("inband") is not None:
        summary["targets"].update(inband.targets(measured["inband"]))
    doc = {
        **header,
        "phases": measured["phases"],
        "scaling": measured["scaling"],
        "failed_phases": measured["failures"],
        "services_stopped_cleanly": all(c == 0 for c in measured["service_exit_codes"].values()),
        "summary": summary,
        "register": measured["register"],
        "inband": measured.get("inband"),
    }
    text = report.render(doc)
    if doc["register"] is not None:
        text += render_register(doc["register"])
    if doc["inband"] is not None:
        text += inband.render(doc["inband"])
    write(doc, out, text)
    if measured["failures"]:
        return 2
    if summary["lost_presses"] or summary["failed_presses"]:
        return 1
    if args.check_targets and not targets_met(summary):
        return 2
    return 0


def _inband(args: argparse.Namespace) -> dict[str, Any] | None:
    """The inband phase's figures, if asked for: measured first, on a machine not yet busy
    with the services and load generators of the other phases."""
    if "inband" not in [p.strip() for p in args.phases.split(",")] or args.soak is not None:
        return None
    log.info("phase inband: one call's audio through the in-band DTMF detector")
    return inband.measure(args.inband_audio)


def inband_met(result: dict[str, Any]) -> bool:
    return all(t["met"] for t in inband.targets(result).values())


def write(doc: dict[str, Any], out: Path, text: str) -> None:
    """The result JSON to `out`, its tables to stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    sys.stdout.write(text)
    sys.stdout.write(f"\nresult: {out}\n")
    sys.stdout.flush()


def machine_info() -> dict[str, Any]:
    import aio_pika
    import pydantic

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aio_pika": aio_pika.__version__,
        "pydantic": pydantic.VERSION,
        "rabbitmq": broker_version(),
    }
