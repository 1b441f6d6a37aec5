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
   - scaling (--scaling): the open loop at 100, 1,000 and 5,000 calls;
4. a table on stdout and a JSON file (default var/bench/result-<UTC timestamp>.json).

Exit status: 0, or 1 when any press went unanswered (lost) or failed, or 2 when
--check-targets is given and a target is missed. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.broker import BrokerError, PrivateVhost, broker_version, check_local, reachable
from bench.procstat import Meter, find_broker_pid, wait_until_quiet
from bench.stats import summarize_us

ROOT = Path(__file__).resolve().parents[1]
# The consumer services `dtmf-bus demo` starts (read from services.demo), else these.
DEFAULT_SERVICES = ("sales", "support", "menu", "calllog")
SCALING_CALLS = (100, 1000, 5000)
DEFAULT_KEYS = "1,2,1,2,9,0,*,#"  # half served (sales, support), half the menu's fallback
BASELINE_QUEUE = "bench.baseline.requests"

# Targets from issue #7, on a 2-core machine.
TARGET_RATIO = 0.9
TARGET_P99_MS = 10.0
TARGET_CALLS = 1000
TARGET_INTERVAL_S = 2.0


class BenchError(RuntimeError):
    pass


def system_services() -> tuple[str, ...]:
    try:
        from services.demo import SERVICES as demo_services
    except ImportError:
        return DEFAULT_SERVICES
    return tuple(demo_services)


SERVICES = system_services()


def service_list(args: argparse.Namespace) -> list[str]:
    return [name.strip() for name in args.services.split(",") if name.strip()]


def progress(text: str) -> None:
    sys.stderr.write(f"bench: {text}\n")
    sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark dtmf-bus: press-to-reply latency and calls per machine.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--phases",
        default="open,closed,baseline",
        help="comma-separated phases to run, in this order: open, closed, baseline",
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
        "--services",
        default=",".join(SERVICES),
        help="consumer services to start (default: those `dtmf-bus demo` starts); leave one "
        "out to measure what it costs",
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
    p.add_argument("--out", default=None, help="result JSON (default var/bench/result-<ts>.json)")
    p.add_argument(
        "--keep-logs", action="store_true", help="keep var/bench/run-<ts>/ (process logs)"
    )
    p.add_argument(
        "--check-targets", action="store_true", help="exit 2 when a target of issue #7 is missed"
    )
    return p


@dataclass
class Phase:
    name: str
    kind: str  # open | closed | baseline
    calls: int
    duration: float
    baseline_kind: str | None = None


def plan(args: argparse.Namespace) -> list[Phase]:
    wanted = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(wanted) - {"open", "closed", "baseline"}
    if unknown:
        raise BenchError(f"unknown phase(s): {', '.join(sorted(unknown))}")
    phases: list[Phase] = []
    scaling = [int(n) for n in args.scaling_calls.split(",") if n.strip()] if args.scaling else []
    scaling_duration = args.scaling_duration or args.open_duration
    if "open" in wanted and not (args.calls in scaling and scaling_duration == args.open_duration):
        phases.append(Phase("open", "open", args.calls, args.open_duration))
    if "closed" in wanted:
        phases.append(Phase("closed", "closed", args.concurrency, args.closed_duration))
    if "baseline" in wanted:
        kinds = ("quorum", "classic") if args.baseline_kind == "both" else (args.baseline_kind,)
        for kind in kinds:
            name = "baseline" if kind == "quorum" or len(kinds) == 1 else f"baseline-{kind}"
            duration = args.baseline_duration or args.closed_duration
            phases.append(Phase(name, "baseline", args.concurrency, duration, kind))
    # Last, smallest first: a size beyond what the machine carries leaves a backlog behind.
    for n in sorted(scaling):
        phases.append(Phase(f"open-{n}", "open", n, scaling_duration))
    return phases


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


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Proc:
    name: str
    proc: asyncio.subprocess.Process
    log_path: Path
    result_path: Path | None = None

    async def next_event(self, expected: str, *, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self.name}: no '{expected}' within {timeout:.0f}s")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            except TimeoutError:
                continue
            if not line:
                await self.proc.wait()
                raise BenchError(
                    f"{self.name} exited ({self.proc.returncode}) before '{expected}'; "
                    f"last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue  # not protocol: ignore stray output
            if msg.get("event") == expected:
                return dict(msg)

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())


class Bench:
    def __init__(self, args: argparse.Namespace, url: str, run_dir: Path, meter: Meter) -> None:
        self.args = args
        self.url = url
        self.run_dir = run_dir
        self.meter = meter
        self.services: dict[str, Proc] = {}
        self.service_names = service_list(args)
        self._procs: list[Proc] = []
        env = dict(os.environ)
        env.update(
            {
                "AMQP_URL": url,
                "DTMF_HTTP_PORT": "-1",  # no metrics port: nothing to clash with
                "DTMF_CALLLOG_PATH": str(run_dir / "calllog.jsonl"),
                "DTMF_REPLY_TIMEOUT_S": str(args.reply_timeout),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
                ),
            }
        )
        env.pop("DTMF_EDGE_ID", None)  # every edge process needs its own reply queue
        if args.prefetch is not None:
            env["DTMF_PREFETCH"] = str(args.prefetch)
        self.env = env

    async def spawn(self, name: str, *argv: str, worker: bool = False) -> Proc:
        log_path = self.run_dir / f"{name}.log"
        with log_path.open("ab") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                *argv,
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.PIPE if worker else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if worker else log_file,
                stderr=log_file,
            )
        p = Proc(name, proc, log_path)
        self._procs.append(p)
        return p

    async def start_services(self) -> None:
        from contracts.topology import service_queue
        from services.demo import wait_for_consumers

        for name in self.service_names:
            p = await self.spawn(name, f"services.{name}")
            self.services[name] = p
            self.meter.track(name, p.proc.pid)
        waiting = asyncio.ensure_future(
            wait_for_consumers(self.url, [service_queue(n) for n in self.service_names], timeout=60)
        )
        exits: dict[asyncio.Future[int], str] = {
            asyncio.ensure_future(p.proc.wait()): name for name, p in self.services.items()
        }
        every: list[asyncio.Future[Any]] = [waiting, *exits]
        done, _ = await asyncio.wait(every, return_when=asyncio.FIRST_COMPLETED)
        for fut in exits:
            if not fut.done():
                fut.cancel()
        if waiting not in done:
            waiting.cancel()
            name = next(exits[f] for f in done if f in exits)
            log_path = self.services[name].log_path
            raise BenchError(f"service {name} exited at start:\n{tail(log_path)}")
        waiting.result()

    async def wait_drained(self, *, timeout: float) -> int:
        """Wait for the services' queues to be empty (a previous phase may have left a
        backlog); returns the messages still queued when the bound ran out."""
        import aio_pika

        from contracts.topology import service_queue

        deadline = time.monotonic() + timeout
        async with await aio_pika.connect(self.url) as connection:
            channel = await connection.channel()
            while True:
                queued = 0
                for name in self.service_names:
                    queue = await channel.declare_queue(service_queue(name), passive=True)
                    queued += queue.declaration_result.message_count or 0
                if queued == 0 or time.monotonic() >= deadline:
                    return queued
                await asyncio.sleep(0.5)

    async def stop(
        self, procs: Sequence[Proc], *, timeout: float = 15.0, grace: float = 0.0
    ) -> dict[str, int]:
        """Exit codes, after `grace` seconds to exit by themselves, then SIGTERM (a process
        that still hangs is killed: -9)."""
        if grace > 0:
            await asyncio.wait([asyncio.ensure_future(p.proc.wait()) for p in procs], timeout=grace)
        for p in procs:
            if p.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.proc.send_signal(signal.SIGTERM)
        codes = {}
        for p in procs:
            try:
                codes[p.name] = await asyncio.wait_for(p.proc.wait(), timeout)
            except TimeoutError:
                p.proc.kill()
                await p.proc.wait()
                codes[p.name] = -9
            self.meter.forget(p.name)
        return codes

    async def kill_all(self) -> None:
        for p in self._procs:
            if p.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.proc.kill()
                await p.proc.wait()

    async def run_phase(self, phase: Phase) -> dict[str, Any]:
        args = self.args
        workers: list[Proc] = []
        helpers: list[Proc] = []
        parts = split(phase.calls, args.edges)
        try:
            if phase.kind == "baseline":
                queue = f"{BASELINE_QUEUE}.{phase.baseline_kind}"
                service = await self.spawn(
                    f"{phase.name}-service",
                    "bench.baseline",
                    "service",
                    "--url",
                    self.url,
                    "--queue",
                    queue,
                    "--kind",
                    str(phase.baseline_kind),
                    "--loop",
                    args.baseline_loop or args.edge_loop,
                    worker=True,
                )
                helpers.append(service)
                await service.next_event("ready", timeout=60)
                self.meter.track(service.name, service.proc.pid)
            for i, (offset, count) in enumerate(parts):
                name = ("driver" if phase.kind == "baseline" else "edge") + (
                    f"-{i + 1}" if len(parts) > 1 else ""
                )
                if phase.kind == "baseline":
                    name = f"{phase.name}-{name}"
                result_path = self.run_dir / f"{phase.name}-{name}.json"
                if phase.kind == "baseline":
                    argv = [
                        "bench.baseline",
                        "driver",
                        "--url",
                        self.url,
                        "--queue",
                        queue,
                        "--kind",
                        str(phase.baseline_kind),
                        "--concurrency",
                        str(count),
                        "--reply-timeout",
                        str(args.reply_timeout),
                    ]
                else:
                    argv = [
                        "bench.loadgen",
                        phase.kind,
                        "--calls",
                        str(count),
                        "--offset",
                        str(offset),
                        "--total",
                        str(phase.calls),
                        "--interval",
                        str(args.interval),
                        "--keys",
                        args.keys,
                    ]
                loop = args.edge_loop
                if phase.kind == "baseline":
                    loop = args.baseline_loop or args.edge_loop
                argv += ["--loop", loop, "--result", str(result_path)]
                w = await self.spawn(f"{phase.name}-{name}", *argv, worker=True)
                w.name = name
                w.result_path = result_path
                workers.append(w)
            for w in workers:
                await w.next_event("ready", timeout=180)
                self.meter.track(w.name, w.proc.pid)
            start = time.monotonic() + 0.3
            for w in workers:
                w.send({"start": start, "warmup": args.warmup, "duration": phase.duration})
            await asyncio.sleep(max(0.0, start + args.warmup - time.monotonic()))
            self.meter.begin()
            bound = args.warmup + phase.duration + args.reply_timeout + 60
            for w in workers:
                await w.next_event("measured", timeout=bound)
            window = self.meter.end()
            for w in workers:
                await w.next_event("done", timeout=120)
            codes = await self.stop(workers, grace=30)
            codes.update(await self.stop(helpers))
            bad = {n: c for n, c in codes.items() if c != 0}
            if bad:
                raise BenchError(f"{phase.name}: processes failed: {bad}")
            results = [read_json(Path(str(w.result_path))) for w in workers]
        except BaseException:
            await self.stop(workers + helpers, timeout=5)
            raise
        return aggregate(phase, args, results, window.as_dict())


def aggregate(
    phase: Phase, args: argparse.Namespace, results: list[dict[str, Any]], window: dict[str, Any]
) -> dict[str, Any]:
    latency: list[int] = []
    lag: list[int] = []
    seconds: dict[int, list[int]] = {}
    for r in results:
        latency.extend(r["latency_us"])
        lag.extend(r["lag_us"])
        for at, us in zip(r["at_ms"], r["latency_us"], strict=True):
            seconds.setdefault(at // 1000, []).append(us)
    timeline = [
        {"second": s, "replies": len(v), **summarize_us(v)} for s, v in sorted(seconds.items())
    ]
    presses = sum(r["presses"] for r in results)
    replies = sum(r["replies"] for r in results)
    out: dict[str, Any] = {
        "name": phase.name,
        "kind": phase.kind,
        "calls": phase.calls,
        "edges": len(results),
        "interval_s": args.interval if phase.kind == "open" else None,
        "duration_s": phase.duration,
        "warmup_s": args.warmup,
        "baseline_queue": phase.baseline_kind,
        "presses": presses,
        "replies": replies,
        "lost": sum(r["lost"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "total_presses": sum(r["total_presses"] for r in results),
        "presses_per_s": round(presses / phase.duration, 1),
        "replies_per_s": round(replies / phase.duration, 1),
        "latency_ms": summarize_us(latency),
        "schedule_lag_ms": summarize_us(lag) if phase.kind == "open" else None,
        "machine_cpu_pct": window["machine_cpu_pct"],
        "other_cpu_pct": window["other_cpu_pct"],
        "window_s": window["seconds"],
        "processes": {
            name: usage
            for name, usage in window["processes"].items()
            # the system's services idle through the baseline: not part of it
            if not (phase.kind == "baseline" and name in service_list(args))
        },
        # per second of the window: replies and latency of the presses made in it
        "timeline": [
            {k: t[k] for k in ("second", "replies", "p50", "p99", "max")} for t in timeline
        ],
    }
    for usage in out["processes"].values():
        usage["cpu_us_per_reply"] = (
            round(1e6 * usage["cpu_s"] / replies * phase.duration / window["seconds"], 1)
            if replies
            else None
        )
    per_reply = [u["cpu_us_per_reply"] for u in out["processes"].values()]
    if replies and all(v is not None for v in per_reply):
        # Every process's CPU per reply, added up: what one reply costs the machine. Less
        # sensitive to other jobs on the machine than replies/s, and it bounds them:
        # all cores busy with nothing else gives at most cores * 1e6 / this replies/s.
        total = sum(per_reply)
        out["cpu_us_per_reply"] = round(total, 1)
        out["cpu_bound_replies_per_s"] = round((os.cpu_count() or 1) * 1e6 / total, 1)
    else:
        out["cpu_us_per_reply"] = out["cpu_bound_replies_per_s"] = None
    memories = [r["memory"] for r in results if r.get("memory")]
    if memories:
        calls = sum(m["live_calls"] for m in memories)
        rss_delta = sum((m["rss_with_calls_mb"] - m["rss_before_calls_mb"]) for m in memories)
        rss_loaded = sum((m["rss_after_load_mb"] - m["rss_before_calls_mb"]) for m in memories)
        traced = [m["traced_bytes_per_call"] for m in memories if m["traced_bytes_per_call"]]
        out["edge_memory"] = {
            "live_calls": calls,
            "rss_delta_bytes_per_call": round(rss_delta * 2**20 / calls) if calls else None,
            "rss_under_load_bytes_per_call": round(rss_loaded * 2**20 / calls) if calls else None,
            "traced_bytes_per_call": round(sum(traced) / len(traced)) if traced else None,
            "per_edge": memories,
        }
    else:
        out["edge_memory"] = None
    return out


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
    everything = list({id(p): p for p in [*phases.values(), *scaling]}.values())
    lost = sum(p["lost"] for p in everything)
    errors = sum(p["errors"] for p in everything)
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
    targets["lost_presses"] = {"target": "0", "measured": lost + errors, "met": lost + errors == 0}
    return {
        "saturation_replies_per_s": closed["replies_per_s"] if closed else None,
        "baseline_replies_per_s": baseline["replies_per_s"] if baseline else None,
        "ratio_to_baseline": ratio,
        "cpu_ratio_to_baseline": cpu_ratio,
        "lost_presses": lost,
        "failed_presses": errors,
        "targets": targets,
    }


async def run_bench(args: argparse.Namespace, url: str, run_dir: Path, port: int) -> dict[str, Any]:
    phases = plan(args)
    async with Meter() as meter:
        bench = Bench(args, url, run_dir, meter)
        broker_pid = find_broker_pid(port)
        if broker_pid is not None:
            meter.track("rabbitmq", broker_pid)
        else:
            progress("no local beam.smp found: broker CPU and memory will be missing")
        try:
            progress(f"starting services ({', '.join(bench.service_names)}) in vhost of {url}")
            await bench.start_services()
            progress("services up")
            results: dict[str, dict[str, Any]] = {}
            scaling: list[dict[str, Any]] = []
            failures: dict[str, str] = {}
            for phase in phases:
                backlog = await bench.wait_drained(timeout=120)
                if backlog:
                    progress(f"{backlog} messages still queued from the previous phase")
                if args.quiet_wait > 0:
                    busy = await wait_until_quiet(threshold_pct=25, timeout=args.quiet_wait)
                    if busy >= 25:
                        progress(f"machine still {busy:.0f}% busy with other work: figures skew")
                progress(
                    f"phase {phase.name}: {phase.kind}, "
                    f"{phase.calls} {'calls' if phase.kind == 'open' else 'concurrent'}, "
                    f"{phase.duration:g} s (+{args.warmup:g} s warm-up)"
                )
                try:
                    result = await bench.run_phase(phase)
                except BenchError as error:
                    # One phase failing (e.g. a size the machine cannot carry) keeps the rest.
                    progress(f"phase {phase.name} failed: {error}")
                    failures[phase.name] = str(error)
                    continue
                progress(
                    f"phase {phase.name}: {result['replies_per_s']} replies/s, "
                    f"p99 {result['latency_ms']['p99']} ms, lost {result['lost']}"
                )
                if phase.name.startswith("open-"):
                    scaling.append(result)
                    if phase.calls == args.calls and "open" in args.phases.split(","):
                        results.setdefault("open", result)
                else:
                    results[phase.name] = result
            codes = await bench.stop(list(bench.services.values()))
        finally:
            await bench.kill_all()
    order = {name: i for i, name in enumerate(("open", "closed", "baseline"))}
    results = dict(sorted(results.items(), key=lambda item: order.get(item[0], len(order))))
    return {
        "phases": results,
        "scaling": scaling,
        "failures": failures,
        "service_exit_codes": codes,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    base_url = os.environ.get("AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/"
    try:
        plan(args)
        host, port = check_local(base_url)
    except (BenchError, BrokerError) as error:
        progress(str(error))
        return 2
    if not reachable(host, port):
        progress(f"no broker at {host}:{port}: start one with `make broker`")
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else Path("var/bench") / f"result-{stamp}.json"
    run_dir = Path("var/bench") / f"run-{stamp}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    vhost = PrivateVhost(base_url)
    ok = False
    try:
        with vhost as url:
            measured = asyncio.run(run_bench(args, url, run_dir, port))
        ok = True
    except (BenchError, BrokerError, TimeoutError) as error:
        progress(f"failed: {error}")
        progress(f"logs kept in {run_dir}")
        return 2
    finally:
        if ok and not args.keep_logs and not measured["failures"]:
            shutil.rmtree(run_dir, ignore_errors=True)
    summary = summarize(measured["phases"], measured["scaling"])
    doc = {
        "benchmark": "dtmf-bus",
        "format": 1,
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "machine": machine_info(),
        "config": {k: v for k, v in vars(args).items()},
        "services": service_list(args),
        "phases": measured["phases"],
        "scaling": measured["scaling"],
        "failed_phases": measured["failures"],
        "services_stopped_cleanly": all(c == 0 for c in measured["service_exit_codes"].values()),
        "summary": summary,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    sys.stdout.write(report.render(doc))
    sys.stdout.write(f"\nresult: {out}\n")
    sys.stdout.flush()
    if measured["failures"]:
        progress(f"logs of the failed phases: {run_dir}")
        return 2
    if summary["lost_presses"] or summary["failed_presses"]:
        return 1
    if args.check_targets and not all(t["met"] for t in summary["targets"].values()):
        return 2
    return 0


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
