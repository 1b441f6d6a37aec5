"""How one phase (see bench.plan) runs.

It gets fresh load worker processes (`python -m bench.loadgen`, or `python -m bench.baseline`
with its service) sharing its calls, started together on a shared clock; the CPU of every
process is read at the edges of the measurement window, then the workers' results merged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.aggregate import aggregate
from bench.baseline import MATCHED
from bench.errors import BenchError
from bench.plan import Phase
from bench.processes import Proc, Processes
from bench.system import service_list

BASELINE_QUEUE = "bench.baseline.requests"


def split(total: int, parts: int) -> list[tuple[int, int]]:
    """(offset, count) of each part, as even as possible."""
    out, offset = [], 0
    for i in range(parts):
        count = total // parts + (1 if i < total % parts else 0)
        out.append((offset, count))
        offset += count
    return out


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _baseline_target(phase: Phase, url: str) -> list[str]:
    """The broker, queue and queue kind both baseline processes of a phase are given."""
    return [
        "--url",
        url,
        "--queue",
        f"{BASELINE_QUEUE}.{phase.baseline_kind}",
        "--kind",
        str(phase.baseline_kind),
    ]


def _loop(phase: Phase, args: argparse.Namespace) -> str:
    """Event loop of the phase's processes: the baseline's may differ (--baseline-loop)."""
    if phase.kind == "baseline":
        return str(args.baseline_loop or args.edge_loop)
    return str(args.edge_loop)


def _worker_name(phase: Phase, index: int, parts: int) -> str:
    """The name a worker's figures are listed under in the phase's result."""
    name = ("driver" if phase.kind == "baseline" else "edge") + (
        f"-{index + 1}" if parts > 1 else ""
    )
    return f"{phase.name}-{name}" if phase.kind == "baseline" else name


def _worker_argv(
    phase: Phase, args: argparse.Namespace, *, url: str, offset: int, count: int
) -> list[str]:
    """`python -m` arguments of one load worker, but for --loop and --result."""
    # Open loop: this worker's callers, and where they sit among all the phase's callers.
    pacing = [
        "--offset",
        str(offset),
        "--total",
        str(phase.calls),
        "--interval",
        str(args.interval),
    ]
    if phase.kind == "baseline":
        load = ["--calls", str(count), *pacing]
        if not phase.open_loop:
            load = ["--concurrency", str(count), "--offset", str(offset)]
        return [
            "bench.baseline",
            "driver",
            *_baseline_target(phase, url),
            *load,
            "--keys",
            args.keys,
            "--reply-timeout",
            str(args.reply_timeout),
        ]
    return ["bench.loadgen", phase.kind, "--calls", str(count), *pacing, "--keys", args.keys]


async def _start_baseline_services(
    phase: Phase, args: argparse.Namespace, *, url: str, processes: Processes
) -> list[Proc]:
    """The lean baseline's one service process, or the matched one's mirror of each of the
    system's services (see bench.matched), each ready and measured."""
    mirrors = service_list(args) if phase.baseline_kind == MATCHED else [None]
    started: list[Proc] = []
    try:
        for mirror in mirrors:
            extra = ["--mirror", mirror] if mirror else []
            started.append(
                await processes.spawn(
                    f"{phase.name}-{mirror or 'service'}",
                    "bench.baseline",
                    "service",
                    *_baseline_target(phase, url),
                    *extra,
                    "--loop",
                    _loop(phase, args),
                    worker=True,
                )
            )
        for service in started:
            await service.next_event("ready", timeout=60)
            processes.meter.track(service.name, service.proc.pid)
    except BaseException:
        await processes.stop(started, timeout=5)
        raise
    return started


async def run_phase(
    phase: Phase, *, args: argparse.Namespace, url: str, processes: Processes
) -> dict[str, Any]:
    """Run one phase with fresh workers; its result (see bench.aggregate)."""
    meter = processes.meter
    workers: list[Proc] = []
    helpers: list[Proc] = []
    parts = split(phase.calls, args.edges)
    try:
        if phase.kind == "baseline":
            helpers = await _start_baseline_services(phase, args, url=url, processes=processes)
        for i, (offset, count) in enumerate(parts):
            name = _worker_name(phase, i, len(parts))
            result_path = processes.run_dir / f"{phase.name}-{name}.json"
            argv = _worker_argv(phase, args, url=url, offset=offset, count=count)
            argv += ["--loop", _loop(phase, args), "--result", str(result_path)]
            w = await processes.spawn(f"{phase.name}-{name}", *argv, worker=True)
            w.name = name
            w.result_path = result_path
            workers.append(w)
        for w in workers:
            await w.next_event("ready", timeout=180)
            meter.track(w.name, w.proc.pid)
        # One start on the shared clock, far enough ahead for every worker to have read it.
        start = time.monotonic() + 0.3
        for w in workers:
            w.send({"start": start, "warmup": args.warmup, "duration": phase.duration})
        await asyncio.sleep(max(0.0, start + args.warmup - time.monotonic()))
        meter.begin()  # the window opens after the warm-up, as the workers' own
        bound = args.warmup + phase.duration + args.reply_timeout + 60
        for w in workers:
            await w.next_event("measured", timeout=bound)
        window = meter.end()
        for w in workers:
            await w.next_event("done", timeout=120)
        codes = await processes.stop(workers, grace=30)
        codes.update(await processes.stop(helpers))
        bad = {n: c for n, c in codes.items() if c != 0}
        if bad:
            raise BenchError(f"{phase.name}: processes failed: {bad}")
        results = [read_json(Path(str(w.result_path))) for w in workers]
    except BaseException:  # failed or cancelled: leave no worker behind
        await processes.stop(workers + helpers, timeout=5)
        raise
    return aggregate(phase, results, window=window.as_dict(), args=args)
