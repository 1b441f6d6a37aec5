"""How one phase (see bench.plan) runs.

It gets fresh load worker processes (`python -m bench.loadgen`, or `python -m bench.baseline`
with its service, or the FastStream peer's, bench.faststream) sharing its calls, started
together on a shared clock; the CPU of every process is read at the edges of the measurement
window, then the workers' results merged. With `--profile PHASE`, py-spy samples every Python
process of that phase through the window: one flame graph each, next to the result JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.aggregate import aggregate
from bench.baseline import MATCHED
from bench.errors import BenchError
from bench.faststream import phase as peer
from bench.plan import Phase
from bench.processes import Proc, Processes
from bench.system import service_list

log = logging.getLogger(__name__)

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
    if phase.baseline_kind == peer.PEER:
        return peer.edge_argv(args, url=url, offset=offset, count=count)
    # Open loop: this worker's callers, and where they sit among all the phase's callers.
    pacing = [
        "--offset",
        str(offset),
        "--total",
        str(phase.calls),
        "--interval",
        str(phase.interval_s(args)),
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
    return await processes.start_ready(
        functools.partial(
            processes.spawn,
            f"{phase.name}-{mirror or 'service'}",
            "bench.baseline",
            "service",
            *_baseline_target(phase, url),
            *(["--mirror", mirror] if mirror else []),
            "--loop",
            _loop(phase, args),
            worker=True,
        )
        for mirror in mirrors
    )


async def run_phase(
    phase: Phase, *, args: argparse.Namespace, url: str, processes: Processes
) -> dict[str, Any]:
    """Run one phase with fresh workers; its result (see bench.aggregate)."""
    if phase.baseline_kind != peer.PEER:
        return await _measure(phase, args=args, url=url, processes=processes)
    peer.require_faststream()
    async with peer.peer_vhost(url) as peer_url:
        return await _measure(phase, args=args, url=peer_url, processes=processes)


async def _measure(
    phase: Phase, *, args: argparse.Namespace, url: str, processes: Processes
) -> dict[str, Any]:
    meter = processes.meter
    workers: list[Proc] = []
    helpers: list[Proc] = []
    profiles: list[Profile] = []
    parts = split(phase.calls, args.edges)
    try:
        if phase.baseline_kind == peer.PEER:
            names = peer.peer_services(service_list(args))
            helpers = await peer.start_services(phase, names=names, url=url, processes=processes)
        elif phase.kind == "baseline":
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
        profiles = await start_profiles(phase, args=args, processes=processes)
        bound = args.warmup + phase.duration + args.reply_timeout + 60
        for w in workers:
            await w.next_event("measured", timeout=bound)
        window = meter.end()
        flame_graphs = await stop_profiles(profiles)
        for w in workers:
            await w.next_event("done", timeout=120)
        codes = await processes.stop(workers, grace=30)
        codes.update(await processes.stop(helpers))
        bad = {n: c for n, c in codes.items() if c != 0}
        if bad:
            raise BenchError(f"{phase.name}: processes failed: {bad}")
        results = [read_json(Path(str(w.result_path))) for w in workers]
    except BaseException:  # failed or cancelled: leave no worker behind
        for profile in profiles:
            if profile.proc.returncode is None:
                profile.proc.kill()
                await profile.proc.wait()
        await processes.stop(workers + helpers, timeout=5)
        raise
    result = aggregate(phase, results, window=window.as_dict(), args=args)
    if flame_graphs:
        result["flame_graphs"] = flame_graphs
    return result


@dataclass
class Profile:
    """A `py-spy record` attached to one of the phase's processes."""

    name: str
    proc: asyncio.subprocess.Process
    svg: Path
    log_path: Path


def py_spy() -> str | None:
    """The py-spy next to this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def start_profiles(
    phase: Phase, *, args: argparse.Namespace, processes: Processes
) -> list[Profile]:
    """py-spy on every Python process measured in `phase`, if --profile names it. It samples
    without pausing them (--nonblocking): the figures of a profiled run still move, by the
    samplers' own CPU (not ours, in the table)."""
    exe = py_spy()
    if getattr(args, "profile", None) != phase.name or exe is None:
        return []
    profiles = []
    for name, pid in processes.meter.pids().items():
        if name == "rabbitmq":  # the broker is Erlang: py-spy reads Python processes only
            continue
        svg = Path(f"{args.profile_base}.{name}.svg")
        log_path = processes.run_dir / f"py-spy-{name}.log"
        with log_path.open("ab") as log_file:
            proc = await asyncio.create_subprocess_exec(
                *(exe, "record", "--pid", str(pid), "--nonblocking", "--format", "flamegraph"),
                *("--output", str(svg)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        profiles.append(Profile(name, proc, svg, log_path))
    return profiles


async def stop_profiles(profiles: list[Profile], *, timeout: float = 30.0) -> dict[str, str]:
    """Stop the samplers as the window closes (SIGINT: py-spy then writes its flame graph);
    the flame graphs written, by process."""
    for profile in profiles:
        with contextlib.suppress(ProcessLookupError):
            profile.proc.send_signal(signal.SIGINT)
    written: dict[str, str] = {}
    for profile in profiles:
        try:
            await asyncio.wait_for(profile.proc.wait(), timeout)
        except TimeoutError:
            profile.proc.kill()
            await profile.proc.wait()
        if profile.svg.exists():
            written[profile.name] = str(profile.svg)
            # py-spy leaves idle time out: a process that never ran (billing, on a key the
            # mix leaves out) gets a flame graph that says so.
            idle = "No valid input" in profile.svg.read_text(errors="replace")[:2000]
            log.info(
                "flame graph of %s%s: %s", profile.name, " (idle)" if idle else "", profile.svg
            )
        else:
            log.warning("py-spy wrote no flame graph of %s: see %s", profile.name, profile.log_path)
    return written
