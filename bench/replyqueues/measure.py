"""A round of call starts of one design: the broker's CPU and memory around each step."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustConnection as RobustConnection

from bench.procstat import machine_cpu
from bench.replyqueues.calls import LiveCall, end_call, in_waves, start_call
from bench.replyqueues.designs import POD_PREFIX, Design
from bench.replyqueues.nodes import BrokerView
from bench.stats import summarize_us
from contracts import topology as t

log = logging.getLogger("bench.replyqueues")

CORES = os.cpu_count() or 1
# Memory categories of `rabbitmqctl status` that a call can move (the rest is code, atoms...).
MEMORY_KEYS = (
    "connection_readers",
    "connection_writers",
    "connection_channels",
    "connection_other",
    "queue_procs",
    "quorum_queue_procs",
    "quorum_ets",
    "other_ets",
    "mnesia",
    "metrics",
    "binary",
    "other_proc",
    "msg_index",
)
CONNECTION_KEYS = (
    "connection_readers",
    "connection_writers",
    "connection_channels",
    "connection_other",
    "binary",
)
QUEUE_KEYS = ("queue_procs", "quorum_queue_procs", "quorum_ets", "other_ets", "mnesia", "metrics")


@dataclass
class Clock:
    """Broker CPU, this process's CPU, the machine's CPU and wall time over a window."""

    view: BrokerView
    broker0: float = 0.0
    own0: float = 0.0
    machine0: tuple[float, float] = (0.0, 0.0)
    wall0: float = 0.0

    def begin(self) -> Clock:
        self.broker0 = self.view.cpu_s()
        self.own0 = time.process_time()
        self.machine0 = machine_cpu()
        self.wall0 = time.perf_counter()
        return self

    def end(self, idle_cpu_per_s: float = 0.0) -> dict[str, float]:
        wall = time.perf_counter() - self.wall0
        busy1, total1 = machine_cpu()
        busy0, total0 = self.machine0
        raw = self.view.cpu_s() - self.broker0
        return {
            "wall_s": wall,
            "broker_cpu_s": raw - idle_cpu_per_s * wall,  # beyond what it burns idle
            "broker_cpu_raw_s": raw,
            "client_cpu_s": time.process_time() - self.own0,
            # 100% = one core; other engineers' jobs show here, not in the broker's figure
            "machine_cpu_pct": (
                100.0 * CORES * (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
            ),
        }


@dataclass
class RoundSpec:
    design: Design
    calls: int
    wave: int
    hold_s: float = 10.0
    idle_s: float = 2.0
    cleanup_timeout_s: float = 60.0
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def plan(self, pods: Sequence[str]) -> list[tuple[str, str | None]]:
        """(call id, its pod's queue) of every call: a wave fills one pod."""
        return [
            (f"rq-{self.tag}-{i}", pods[i // self.wave] if pods else None)
            for i in range(self.calls)
        ]

    def pods(self) -> int:
        return -(-self.calls // self.wave) if self.design.shared else 0


async def _declare_pods(url: str, spec: RoundSpec) -> tuple[RobustConnection | None, list[str]]:
    """(c)'s pod queues, one per wave of calls: a pod's cost, not a call's."""
    if not spec.pods():
        return None, []
    connection = await aio_pika.connect_robust(url)
    channel = await connection.channel()
    names = [f"{POD_PREFIX}{spec.tag}-{p}" for p in range(spec.pods())]
    for name in names:
        await channel.declare_queue(name, durable=True, arguments=dict(spec.design.arguments))
    return connection, names


async def _delete_pods(connection: RobustConnection | None, names: list[str]) -> None:
    if connection is None:
        return
    channel = await connection.channel()
    for name in names:
        await channel.queue_delete(name)
    await connection.close()


async def idle_cpu_per_s(view: BrokerView, seconds: float) -> float:
    """The broker's own CPU rate with nothing of the round live (its timers, other vhosts)."""
    if seconds <= 0:
        return 0.0
    before = view.cpu_s()
    await asyncio.sleep(seconds)
    return (view.cpu_s() - before) / seconds


async def _wait_gone(view: BrokerView, prefix: str, spec: RoundSpec) -> float | None:
    """Seconds until the broker lists none of the round's queues (None: still there)."""
    began = time.perf_counter()
    expires = spec.design.expires_ms
    if expires is not None:
        # x-expires counts from the last consumer's leave: poll just before it is due
        await asyncio.sleep(max(0.0, expires / 1000 - 2.0))
    deadline = began + (expires or 0) / 1000 + spec.cleanup_timeout_s
    while True:
        names = await asyncio.to_thread(view.queue_names)
        if not any(n.startswith(prefix) for n in names):
            return time.perf_counter() - began
        if time.perf_counter() > deadline:
            return None
        await asyncio.sleep(0.5)


def _per_call_memory(before: dict[str, int], live: dict[str, int], n: int) -> dict[str, float]:
    def kb(keys: Sequence[str]) -> float:
        return round(sum(live.get(k, 0) - before.get(k, 0) for k in keys) / 1024 / n, 2)

    per_key = {k: kb([k]) for k in ("erlang", "rss", *MEMORY_KEYS)}
    # Binaries are mostly the connections' buffers: the same for every design.
    return {**per_key, "connection": kb(CONNECTION_KEYS), "queue": kb(QUEUE_KEYS)}


def _step_p50s(calls: Sequence[LiveCall]) -> dict[str, float | None]:
    steps = sorted({s for c in calls for s in c.steps_us})
    return {
        s: summarize_us([c.steps_us[s] for c in calls if s in c.steps_us])["p50"] for s in steps
    }


def _errors(results: Sequence[object]) -> list[str]:
    return [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]


@dataclass
class Observed:
    """What a round saw: per-call results and the broker around each step."""

    started: list[LiveCall | BaseException] = field(default_factory=list)
    ended: list[int | BaseException] = field(default_factory=list)
    idle: float = 0.0  # the broker's CPU seconds per second with nothing of the round live
    windows: dict[str, dict[str, float]] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)  # status + /proc, before the calls
    live: dict[str, int] = field(default_factory=dict)  # the same, all calls live
    gone_s: float | None = None

    @property
    def calls(self) -> list[LiveCall]:
        return [r for r in self.started if isinstance(r, LiveCall)]


async def _snapshot(view: BrokerView) -> dict[str, int]:
    status = await asyncio.to_thread(view.status)
    return {**status, "rss": view.rss(), "fds": view.fds()}  # /proc, read next to it


async def measure_round(url: str, view: BrokerView, spec: RoundSpec) -> dict[str, Any]:
    """Start `spec.calls` calls of one design, hold, tear down, wait for the broker's cleanup."""
    seen = Observed()
    pod_conn, pods = await _declare_pods(url, spec)
    try:
        seen.idle = await idle_cpu_per_s(view, spec.idle_s)
        seen.before = await _snapshot(view)
        clock = Clock(view).begin()
        starting = spec.plan(pods)
        seen.started = await in_waves(
            starting, spec.wave, lambda c: start_call(url, spec.design, *c)
        )
        seen.windows["start"] = clock.end(seen.idle)

        clock = Clock(view).begin()
        await asyncio.sleep(spec.hold_s)
        seen.windows["hold"] = clock.end(seen.idle)
        seen.live = await _snapshot(view)

        clock = Clock(view).begin()
        seen.ended = await in_waves(seen.calls, spec.wave, lambda c: end_call(c, spec.design))
        seen.windows["teardown"] = clock.end(seen.idle)

        clock = Clock(view).begin()
        seen.gone_s = await _wait_gone(view, t.reply_queue(f"rq-{spec.tag}-"), spec)
        seen.windows["cleanup"] = clock.end(seen.idle)
    finally:
        await _delete_pods(pod_conn, pods)
    return round_result(spec, seen)


def round_result(spec: RoundSpec, seen: Observed) -> dict[str, Any]:
    """A round's figures, per live call where the broker's are concerned."""
    live, n = seen.calls, max(1, len(seen.calls))
    w = seen.windows
    errors = _errors(seen.started) + _errors(seen.ended)
    for error in errors[:3]:
        log.warning("%s/%d: %s", spec.design.name, spec.calls, error)

    def per_call(window: str, scale: float = 1000.0) -> float:
        return round(scale * w[window]["broker_cpu_s"] / n, 3)

    def delta(key: str) -> float:
        return round((seen.live[key] - seen.before[key]) / n, 2)

    return {
        "design": spec.design.name,
        "label": spec.design.label,
        "calls": spec.calls,
        "wave": spec.wave,
        "pods": spec.pods(),
        "started": len(live),
        "failed": len(_errors(seen.started)),
        "errors": errors[:5],
        "start_ms": summarize_us([c.steps_us["total"] for c in live]),
        "step_p50_ms": _step_p50s(live),
        "broker_idle_cpu_pct": round(100.0 * seen.idle, 2),
        "broker_cpu_ms_per_start": per_call("start"),
        "client_cpu_ms_per_start": round(1000.0 * w["start"]["client_cpu_s"] / n, 3),
        "broker_live_cpu_us_per_s_per_call": round(per_call("hold", 1e6) / w["hold"]["wall_s"], 2),
        "memory_kb_per_call": _per_call_memory(seen.before, seen.live, n),
        "broker_fds_per_call": delta("fds"),
        "broker_handles_per_call": delta("handles_used"),
        "broker_handles": {k: seen.live[k] for k in ("handles_used", "handles_limit")},
        "memory_before_bytes": {k: seen.before.get(k, 0) for k in ("erlang", "rss", *MEMORY_KEYS)},
        "teardown_ms": summarize_us([r for r in seen.ended if isinstance(r, int)]),
        "teardown_failed": len(_errors(seen.ended)),
        "broker_cpu_ms_per_teardown": per_call("teardown"),
        "expires_ms": spec.design.expires_ms,
        "cleanup_s": round(seen.gone_s, 2) if seen.gone_s is not None else None,
        "broker_cpu_ms_per_cleanup": per_call("cleanup"),
        "windows": {name: _rounded(window) for name, window in w.items()},
    }


def _rounded(window: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in window.items()}
